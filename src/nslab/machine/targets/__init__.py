"""Targets: where commands run (local, ssh, vagrant). See nslab.machine.targets.base for the protocol."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol

from nslab.commands import CommandError, Result
from nslab.errors import TargetError
from nslab.machine.targets.base import Target
from nslab.machine.targets.local import LocalTarget

if TYPE_CHECKING:
    from nslab.machine.targets.ssh import SshOptions


class Options(Protocol):
    """What the backends read of a run's settings (nslab.config.Settings has all of it):
    plain options, so targets know nothing of where settings come from."""

    @property
    def target(self) -> str: ...

    @property
    def box(self) -> str: ...

    @property
    def vagrant(self) -> str: ...

    @property
    def vagrant_provider(self) -> str: ...

    @property
    def vagrant_root(self) -> str: ...

    @property
    def ssh_config(self) -> str: ...

    @property
    def host(self) -> str: ...

    @property
    def port(self) -> int: ...

    @property
    def user(self) -> str: ...

    @property
    def key(self) -> str: ...

    @property
    def known_hosts(self) -> str: ...

    @property
    def host_key(self) -> str: ...


__all__ = ["BACKENDS", "CommandError", "LocalTarget", "Result", "Target", "open_target"]


def _local(settings: Options) -> Target:
    return LocalTarget()


def _ssh(settings: Options) -> Target:
    from nslab.machine.targets.ssh import SshTarget

    return SshTarget.connect(ssh_options(settings))


def _vagrant(settings: Options) -> Target:
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


# The backend registry: `-D target=NAME` picks one; a new backend is one function and one
# entry here (each imports its transport lazily: paramiko only for ssh and vagrant).
BACKENDS: dict[str, Callable[[Options], Target]] = {"local": _local, "ssh": _ssh, "vagrant": _vagrant}


def open_target(settings: Options, userdata: dict[str, str]) -> Target:
    """The target a run asked for, connected and ready."""
    backend = BACKENDS.get(settings.target)
    if backend is None:
        raise TargetError(f"unknown target '{settings.target}'", f"use one of: {', '.join(BACKENDS)}")
    return backend(settings)


def ssh_options(settings: Options) -> SshOptions:
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
