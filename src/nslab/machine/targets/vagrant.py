"""The vagrant target: python-vagrant brings the VM up (or reuses it), then hands its
`ssh_config` to the ssh target. Never `vagrant ssh -c` per step (seconds per call).

Lifecycle per run (`-D vagrant=...`): `reuse` (the default: use a running VM, boot one
if there is none, leave it running) or `fresh` (boot, run, destroy: for CI). A `keep`
lifecycle was once documented but behaved exactly like `reuse`; it is gone.
Scenarios run in worlds inside the VM, so one boot serves the whole suite; the VM is
booted with NSLAB_VM_LAB=0 (tools only, no lab in its root namespace).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

from nslab.errors import TargetError
from nslab.machine.targets.ssh import SshOptions, SshTarget

LIFECYCLES = ("reuse", "fresh")


def find_root(start: Path | None = None) -> Path:
    """The folder holding the Vagrantfile: VAGRANT_CWD if set (as vagrant itself does),
    else this checkout's, found walking up from `start`."""
    if start is None and os.environ.get("VAGRANT_CWD"):
        chosen = Path(os.environ["VAGRANT_CWD"])
        if not (chosen / "Vagrantfile").exists():
            raise TargetError(f"VAGRANT_CWD={chosen} holds no Vagrantfile", "point it at the nslab checkout")
        return chosen.resolve()
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / "Vagrantfile").exists():
            return folder
    raise TargetError(
        "no Vagrantfile here or above", "run from the nslab checkout, set VAGRANT_CWD, or -D vagrant_root=DIR"
    )


def check_direct_route(address: str, route_get: Callable[[str], str] | None = None) -> str:
    """Refuse to connect to a guest that is not on a directly connected network: an ssh
    to it would leave this machine through a gateway (docs/design.md, Safety). Returns the
    route that was accepted."""
    if route_get is None:

        def route_get(addr: str) -> str:
            return subprocess.run(["ip", "route", "get", addr], capture_output=True, text=True).stdout

    route = route_get(address)
    if address.startswith("127.") or " dev lo " in f" {route} ":
        return route
    if not route.strip():
        raise TargetError(f"no route to the VM at {address}", "check that the VM's network is up")
    if " via " in f" {route} ":
        raise TargetError(
            f"the VM at {address} is reached through a gateway ({route.strip()}); nslab only "
            "connects to a VM on a directly connected network",
            "run vagrant and nslab in the network namespace that holds the VM's management network",
        )
    return route


class _Tail:
    """Keeps vagrant's last lines for error messages, and echoes them as they come."""

    def __init__(self, echo: Callable[[str], None] | None) -> None:
        self.lines: list[str] = []
        self.echo = echo

    def add(self, line: str) -> None:
        line = line.rstrip("\n")
        self.lines = [*self.lines[-30:], line]
        if self.echo:
            self.echo(line)


class VagrantTarget(SshTarget):
    """An ssh target whose machine is a Vagrant VM that this run may boot and destroy."""

    name = "vagrant"
    disposable = True  # a VM this run may boot and destroy: `@host` scenarios may change it

    @classmethod
    def start(
        cls,
        root: Path,
        *,
        lifecycle: str = "reuse",
        provider: str | None = None,
        env: dict[str, str] | None = None,
        echo: Callable[[str], None] | None = None,
    ) -> VagrantTarget:
        if lifecycle not in LIFECYCLES:
            raise TargetError(
                f"unknown vagrant lifecycle '{lifecycle}'", "use one of: " + ", ".join(LIFECYCLES)
            )
        if shutil.which("vagrant") is None:
            raise TargetError(
                "the vagrant command is not installed",
                "install Vagrant and a provider (vagrant-libvirt or VirtualBox), or use -D target=local",
            )
        import vagrant  # python-vagrant

        tail = _Tail(echo)
        run_env = {
            **os.environ,
            **(env or {}),
            "NSLAB_VM_LAB": "0",
            # no version-check calls to HashiCorp's servers from a test run
            "VAGRANT_CHECKPOINT_DISABLE": "1",
            "VAGRANT_BOX_UPDATE_CHECK_DISABLE": "1",
        }
        machine = vagrant.Vagrant(root=str(root), env=run_env, err_cm=_stderr_into(tail), quiet_stdout=True)
        state = _state(machine, tail)
        booted = False
        if lifecycle == "fresh" and state not in ("not created", "not_created"):
            _vagrant(tail, "destroy", lambda: machine.destroy())
            state = "not created"
        if state != "running":
            _up(machine, tail, provider)
            booted = True
        try:
            options = _ssh_options(machine, tail)
            check_direct_route(options.host)
            target = cls.connect(options)
        except BaseException:
            if booted and lifecycle == "fresh":
                _vagrant(tail, "destroy", lambda: machine.destroy())
            raise
        target._machine = machine  # type: ignore[attr-defined]
        target._destroy = lifecycle == "fresh"  # type: ignore[attr-defined]
        target._tail = tail  # type: ignore[attr-defined]
        return target  # type: ignore[return-value]

    def close(self) -> None:
        super().close()
        if getattr(self, "_destroy", False):
            _vagrant(self._tail, "destroy", lambda: self._machine.destroy())  # type: ignore[attr-defined]


@contextmanager
def _capture(tail: _Tail) -> Iterator[IO[str]]:
    with tempfile.TemporaryFile("w+") as fh:
        yield fh
        fh.seek(0)
        for line in fh:
            tail.add(line)


def _stderr_into(tail: _Tail) -> Callable[[], Any]:
    return lambda: _capture(tail)


def _vagrant(tail: _Tail, what: str, call: Callable[[], Any]) -> Any:
    try:
        return call()
    except subprocess.CalledProcessError:
        last = "\n  ".join(tail.lines[-12:]) or "(no output)"
        raise TargetError(f"`vagrant {what}` failed; its last lines:\n  {last}", _hint(tail.lines)) from None


def _hint(lines: list[str]) -> str:
    text = "\n".join(lines)
    if "could not be found" in text and "box" in text.lower():
        return (
            "add the box (`vagrant box add NAME`), or build the offline Debian box: "
            "bash provision/box/build-debian-box.sh, then NSLAB_BOX=nslab/debian12"
        )
    if "provider" in text.lower() and ("not installed" in text or "not usable" in text):
        return "install a provider plugin: vagrant-libvirt (apt install vagrant-libvirt) or VirtualBox"
    if "libvirt" in text.lower() and ("socket" in text or "connect" in text.lower()):
        return "start libvirtd (and virtlogd), or check -D vagrant_provider"
    if "Timed out" in text or "timeout" in text.lower():
        return "the VM did not come up in time: check the provider, /dev/kvm or NSLAB_LIBVIRT_DRIVER=qemu"
    return "run `vagrant up` by hand in the checkout to see the whole output"


def _state(machine: Any, tail: _Tail) -> str:
    statuses = _vagrant(tail, "status", machine.status)
    if not statuses:  # python-vagrant may swallow errors and return nothing
        raise TargetError("`vagrant status` said nothing", _hint(tail.lines))
    return str(statuses[0].state or "unknown")


def _up(machine: Any, tail: _Tail, provider: str | None) -> None:
    def up() -> None:
        for line in machine.up(provider=provider, stream_output=True):
            tail.add(line if isinstance(line, str) else line.decode(errors="replace"))

    tail.add("nslab: booting the VM (vagrant up); this takes a while")
    _vagrant(tail, "up", up)


def _ssh_options(machine: Any, tail: _Tail) -> SshOptions:
    """From `vagrant ssh-config`, checked: python-vagrant may return nothing for a
    missing VM, so the keys are verified before connecting."""
    text = _vagrant(tail, "ssh-config", machine.ssh_config) or ""
    if "HostName" not in text or "Port" not in text:
        raise TargetError("`vagrant ssh-config` gave no usable Host block", _hint(tail.lines))
    with tempfile.NamedTemporaryFile("w", suffix=".ssh_config", delete=False) as fh:
        fh.write(text)
    try:
        return SshOptions.from_ssh_config(fh.name, "default", connect_timeout=30)
    finally:
        os.unlink(fh.name)


def echo_progress(line: str) -> None:
    """Vagrant's output, one line at a time: readable on a terminal and in CI logs alike."""
    print(f"  vagrant| {line}", file=sys.stderr, flush=True)
