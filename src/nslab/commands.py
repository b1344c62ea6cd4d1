"""Running a command: the one protocol every place that runs commands speaks (a target,
a world, the root namespace of a VM), what a command did (`Result`), and the error for a
command that had to succeed. No imports from nslab's targets or provision: both use it.

Commands are argv lists, quoted once at the transport; a `str` command is a bash script
of the project's own (a provision stage or a scenario's docstring), never user text
spliced into a shell line.
"""

from __future__ import annotations

import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from nslab.errors import NslabError
from nslab.parse import without_nslab
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
        """From the reply of nslab.ontarget.agent.execute (local or remote)."""
        return cls(
            command,
            int(str(raw["rc"])),
            str(raw["stdout"]),
            str(raw["stderr"]),
            float(str(raw["seconds"])),
            bool(raw["timed_out"]),
        )

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
            # a listing read back shows the user's rules, not rule coverage's counting ones
            lines.extend("  " + line for line in without_nslab(r.output).rstrip("\n").splitlines())
        return "\n".join(lines)


@runtime_checkable
class Runner(Protocol):
    """Runs commands: in its own root network namespace, or in lab namespace `ns`. Stages,
    probes, diagnostics, the diagram and the steps' actions take any Runner (a World, a
    target, a VM's root namespace) and never ask which kind it is."""

    provision_dir: str  # where the provision stages are on the runner's file system

    def run(
        self,
        cmd: Command,
        *,
        ns: str | None = None,
        env: Mapping[str, str] | None = None,
        stdin: str | None = None,
        timeout: float = 60.0,
        check: bool = False,
    ) -> Result: ...

    def put(self, path: str, data: bytes, mode: int = 0o644) -> None: ...


def as_argv(cmd: Command, ns: str | None = None) -> list[str]:
    """The argv that runs `cmd` (argv, or a bash script of nslab's own) in namespace `ns`."""
    argv = ["bash", "-euo", "pipefail", "-c", cmd] if isinstance(cmd, str) else list(cmd)
    return ["ip", "netns", "exec", ns, *argv] if ns is not None else argv


def shown(cmd: Command, ns: str | None = None) -> str:
    """The command as a person would type it, for logs and reports (not the transport's
    wrapping: nsenter into a world, the agent's framing)."""
    return (f"ip netns exec {ns} " if ns else "") + describe(cmd)
