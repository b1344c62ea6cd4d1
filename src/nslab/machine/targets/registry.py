"""The targets' registry: `-D target=NAME` picks a backend (local, ssh, vagrant), configured
from the run's Settings as they are (no copy of their fields). The one module that imports
the backends; they import only nslab.machine.targets.base."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from nslab.config import Settings
from nslab.errors import TargetError
from nslab.machine.targets.base import Target
from nslab.machine.targets.local import LocalTarget

if TYPE_CHECKING:
    from nslab.machine.targets.ssh import SshOptions


__all__ = ["BACKENDS", "open_target", "ssh_options"]


def _local(settings: Settings) -> Target:
    return LocalTarget()


def _ssh(settings: Settings) -> Target:
    from nslab.machine.targets.ssh import SshTarget

    return SshTarget.connect(ssh_options(settings))


def _vagrant(settings: Settings) -> Target:
    import os
    from pathlib import Path

    from nslab.machine.targets.vagrant import VagrantTarget, echo_progress, find_root

    root = Path(settings.vagrant_root) if settings.vagrant_root else find_root()
    return VagrantTarget.start(
        root,
        lifecycle=settings.vagrant,
        provider=settings.vagrant_provider or None,
        env={"NSLAB_BOX": os.environ.get("NSLAB_BOX", settings.box)},
        echo=echo_progress,
    )


# The backend registry: `-D target=NAME` picks one; a new backend is one function, one
# entry here and its name in config.TARGETS (each imports its transport lazily: paramiko
# only for ssh and vagrant).
# Settings check a name against config.TARGETS, without importing this module nor the
# backends: the same names, in the same order (tests/unit/test_lint.py holds them to it).
BACKENDS: dict[str, Callable[[Settings], Target]] = {"local": _local, "ssh": _ssh, "vagrant": _vagrant}


def open_target(settings: Settings, userdata: dict[str, str]) -> Target:
    """The target a run asked for, connected and ready."""
    backend = BACKENDS.get(settings.target)
    if backend is None:
        raise TargetError(f"unknown target '{settings.target}'", f"use one of: {', '.join(BACKENDS)}")
    return backend(settings)


def ssh_options(settings: Settings) -> SshOptions:
    """SshOptions from -D host/port/user/key/known_hosts/host_key, or from -D ssh_config."""
    from nslab.machine.targets.ssh import SshOptions

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
