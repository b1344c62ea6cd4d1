"""The target protocol: where commands run. Local, ssh and vagrant all speak it: the
commands protocol of `nslab.commands` (a `Runner`), plus what a machine has beyond it
(long-lived processes, files, signals).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

from nslab.commands import CommandLog, Runner
from nslab.errors import TargetError
from nslab.tools import install_hint


def missing_tool(tool: str, where: str) -> TargetError:
    """The one error for a program that is not installed where a command had to run."""
    fix = f"{install_hint(tool)}, or run `nslab doctor`"
    return TargetError(f"'{tool}' is not installed on {where}", fix)


class Spawned(Protocol):
    """A long-lived process on a target (a world's holder, a helper such as netprobe): lines
    to read, data to write, stdin to close."""

    def readline(self, timeout: float) -> str: ...

    def write(self, data: str) -> None: ...

    def read_rest(self) -> str: ...

    def close_stdin(self) -> None: ...

    def wait(self, timeout: float) -> int | None: ...

    def kill(self) -> None: ...


@runtime_checkable
class Target(Runner, Protocol):
    """A machine commands run on: this host, one over ssh, a vagrant VM. Its `run` and
    `put` are the Runner's (`ns` enters a lab namespace of the machine's own)."""

    name: str
    is_root: bool
    log: CommandLog

    def spawn(self, argv: Sequence[str], *, detach: bool = False) -> Spawned: ...

    def close(self) -> None: ...

    def helper(self, name: str) -> list[str]:
        """argv that runs one of nslab's standalone helpers (netprobe.py) on the target."""
        ...

    def read_text(self, path: str) -> str:
        """A file on the target ("" if it cannot be read): /proc entries, mostly."""
        ...

    def kill(self, pid: int, sig: int) -> None:
        """Signal a process on the target (one nslab started: a persistent world)."""
        ...

    disposable: bool  # a machine nslab may change for real (`@host` scenarios): a VM it booted
