"""Targets: where commands run (local, ssh, vagrant). See nslab.targets.base for the protocol."""

from __future__ import annotations

from typing import TYPE_CHECKING

from nslab.errors import TargetError
from nslab.targets.base import CommandError, Result, Target
from nslab.targets.local import LocalTarget

if TYPE_CHECKING:
    from nslab.config import Settings

__all__ = ["CommandError", "LocalTarget", "Result", "Target", "open_target"]


def open_target(settings: Settings, userdata: dict[str, str]) -> Target:
    """The target a run asked for; only `local` exists so far, and says so for the others."""
    if settings.target == "local":
        return LocalTarget()
    raise TargetError(
        f"the '{settings.target}' target is not implemented in this version of nslab yet",
        "run with the default local target (omit -D target=...)",
    )
