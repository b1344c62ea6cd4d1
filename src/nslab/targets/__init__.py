"""Targets: where commands run (local, ssh, vagrant). See nslab.targets.base for the protocol."""

from __future__ import annotations

from typing import TYPE_CHECKING

from nslab.errors import TargetError
from nslab.targets.base import CommandError, Result, Target
from nslab.targets.local import LocalTarget

if TYPE_CHECKING:
    from nslab.config import Settings
    from nslab.targets.ssh import SshOptions

__all__ = ["CommandError", "LocalTarget", "Result", "Target", "open_target"]


def open_target(settings: Settings, userdata: dict[str, str]) -> Target:
    """The target a run asked for, connected and ready."""
    if settings.target == "local":
        return LocalTarget()
    if settings.target == "ssh":
        from nslab.targets.ssh import SshTarget

        return SshTarget.connect(ssh_options(settings))
    if settings.target == "vagrant":
        import os
        from pathlib import Path

        from nslab.targets.vagrant import VagrantTarget, echo_progress, find_root

        root = Path(settings.vagrant_root) if settings.vagrant_root else find_root()
        return VagrantTarget.start(
            root,
            lifecycle=settings.vagrant,
            provider=settings.vagrant_provider or None,
            env={"NSLAB_BOX": os.environ.get("NSLAB_BOX", settings.box)},
            echo=echo_progress,
        )
    raise TargetError(f"unknown target '{settings.target}'", "use one of: local, ssh, vagrant")


def ssh_options(settings: Settings) -> SshOptions:
    """SshOptions from -D host/port/user/key/known_hosts/host_key, or from -D ssh_config."""
    from nslab.targets.ssh import SshOptions

    if settings.ssh_config:
        if not settings.host:
            raise TargetError(
                "-D ssh_config needs -D host=ALIAS (the Host block to use)", "e.g. -D host=default"
            )
        return SshOptions.from_ssh_config(
            settings.ssh_config,
            settings.host,
            key=settings.key or None,
            known_hosts=settings.known_hosts or None,
        )
    if not settings.host:
        raise TargetError(
            "the ssh target needs a host", "-D host=ADDRESS [-D port=22 -D user=root -D key=FILE]"
        )
    return SshOptions(
        host=settings.host,
        port=settings.port,
        user=settings.user,
        key=settings.key or None,
        known_hosts=settings.known_hosts or None,
        host_key=settings.host_key,
    )
