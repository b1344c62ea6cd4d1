"""The target protocol: where commands run. Local, ssh and vagrant all speak it.

Commands are argv lists, quoted once at the transport; a `str` command is a bash script
of the project's own (a provision stage or a scenario's docstring), never user text
spliced into a shell line.
"""

from __future__ import annotations

import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from nslab.errors import NslabError, TargetError
from nslab.tools import install_hint, missing_from

Command = Sequence[str] | str


def describe(cmd: Command) -> str:
    """The command as a person would type it: for logs and error messages."""
    return cmd if isinstance(cmd, str) else shlex.join(cmd)


@dataclass(frozen=True)
class Result:
    """What one command did; steps and probes judge it, targets never do."""

    command: str
    rc: int
    stdout: str
    stderr: str
    seconds: float
    timed_out: bool = False

    @classmethod
    def from_agent(cls, command: str, raw: Mapping[str, object]) -> Result:
        """From the reply of nslab.targets.agent.execute (local or remote)."""
        return cls(
            command,
            int(raw["rc"]),
            str(raw["stdout"]),
            str(raw["stderr"]),  # type: ignore[call-overload]
            float(raw["seconds"]),
            bool(raw["timed_out"]),
        )  # type: ignore[arg-type]

    @property
    def ok(self) -> bool:
        return self.rc == 0 and not self.timed_out

    @property
    def output(self) -> str:
        """stdout and stderr together, as a terminal would have shown them."""
        if self.stdout and self.stderr and not self.stdout.endswith("\n"):
            return self.stdout + "\n" + self.stderr
        return self.stdout + self.stderr


class CommandError(NslabError):
    """A command that had to succeed did not; carries its output for the report."""

    def __init__(self, result: Result) -> None:
        self.result = result
        why = "timed out" if result.timed_out else f"exited {result.rc}"
        detail = (result.stderr or result.stdout).strip().splitlines()
        tail = (":\n  " + "\n  ".join(detail[-4:])) if detail else ""
        tool = missing_from(result.stderr) if result.rc == 127 or "not found" in result.stderr else None
        fix = (
            f"{tool} is missing: {install_hint(tool)}, or run `nslab doctor`"
            if tool
            else read_only_fix(result)
        )
        super().__init__(f"`{result.command}` {why}{tail}", fix)


# A world (host_fs=ro, the default) writes only its own tmpfs and per-network sysctls.
READ_ONLY_FIX = (
    "the host's files are read-only inside a world: write under /tmp, /run or /etc/netns "
    "(the world's own), or run with -D host_fs=rw (nslab up --host-fs rw)"
)


def read_only_fix(result: Result) -> str:
    """The fix for a command that tried to write the host's read-only files inside a world."""
    return READ_ONLY_FIX if "Read-only file system" in result.output else ""


def missing_tool(tool: str, where: str) -> TargetError:
    """The one error for a program that is not installed where a command had to run."""
    fix = f"{install_hint(tool)}, or run `nslab doctor`"
    return TargetError(f"'{tool}' is not installed on {where}", fix)


@dataclass
class CommandLog:
    """Every command a target ran, in order: embedded in failure reports (NetworkManager-ci)."""

    entries: list[Result] = field(default_factory=list)
    limit: int = 400

    def add(self, result: Result) -> None:
        self.entries.append(result)
        if len(self.entries) > self.limit:
            del self.entries[: len(self.entries) - self.limit]

    def render(self) -> str:
        lines = []
        for r in self.entries:
            lines.append(f"$ {r.command}    # rc={r.rc} {r.seconds * 1000:.1f} ms")
            lines.extend("  " + line for line in r.output.rstrip("\n").splitlines())
        return "\n".join(lines)


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
class Target(Protocol):
    """Runs commands somewhere: this host, a machine over ssh, a vagrant VM."""

    name: str
    is_root: bool
    log: CommandLog

    def run(
        self,
        cmd: Command,
        *,
        env: Mapping[str, str] | None = None,
        stdin: str | None = None,
        timeout: float = 60.0,
        check: bool = False,
    ) -> Result: ...

    def spawn(self, argv: Sequence[str], *, detach: bool = False) -> Spawned: ...

    def put(self, path: str, data: bytes, mode: int = 0o644) -> None: ...

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

    @property
    def provision_dir(self) -> str:
        """Where the provision stages are on the target's own filesystem."""
        ...
