"""Where nslab's own files are: installed in the wheel, or at the top of a source checkout.
A module of its own, so that targets and provisioning both use it without importing each
other."""

from __future__ import annotations

from pathlib import Path

from nslab.errors import LabError

PACKAGE = Path(__file__).resolve().parent


def stage_dir() -> Path:
    """provision/ as installed in the wheel, or at the top of a source checkout."""
    for candidate in (PACKAGE / "provision", PACKAGE.parents[1] / "provision"):
        if (candidate / "lib.sh").exists():
            return candidate
    raise LabError("cannot find the provision/ stages", "reinstall nslab or run from its checkout")
