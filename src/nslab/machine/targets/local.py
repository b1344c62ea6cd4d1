"""The embedded default target: this host, via subprocess with argv lists (never shell=True).

>>> t = LocalTarget()
>>> t.run(["echo", "hi"]).stdout
'hi\\n'
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

from nslab.commands import Command, CommandError, CommandLog, Result, as_argv, shown
from nslab.errors import TargetError
from nslab.machine.targets.base import missing_tool
from nslab.ontarget.agent import Child, execute
from nslab.ontarget.agent import __file__ as agent_file
from nslab.paths import stage_dir

LocalProcess = Child  # a long-lived local child (a world's holder)
SYSTEM_PYTHON = "/usr/bin/python3"


class LocalTarget:
    """Runs commands on this host. Scenarios never use it bare: they run in a World on it."""

    name = "local"
    disposable = False  # this machine: never changed outside worlds

    def __init__(self) -> None:
        self.is_root = os.geteuid() == 0
        self.log = CommandLog()
        self.provision_dir = str(stage_dir())

    def run(
        self,
        cmd: Command,
        *,
        ns: str | None = None,
        env: Mapping[str, str] | None = None,
        stdin: str | None = None,
        timeout: float = 60.0,
        check: bool = False,
    ) -> Result:
        argv = as_argv(cmd, ns)
        try:
            raw = execute(argv, env, stdin, timeout)
        except FileNotFoundError:
            raise missing_tool(argv[0], "this host") from None
        result = Result.from_agent(shown(cmd, ns), raw)
        self.log.add(result)
        if check and not result.ok:
            raise CommandError(result)
        return result

    def spawn(self, argv: Sequence[str], *, detach: bool = False) -> Child:
        """Start a long-lived process; unless detached it dies when this process dies."""
        try:
            return Child(argv, detach)
        except FileNotFoundError:
            raise missing_tool(argv[0], "this host") from None

    def helper(self, name: str) -> list[str]:
        """A helper beside agent.py (standard library only), run with -I -S (no site: ~20 ms).

        The system's python3 first: inside a user-namespace world a venv's interpreter
        under a private home (pyenv's /root/.pyenv) cannot be executed (measured: EACCES),
        while /usr/bin/python3 can."""
        python = SYSTEM_PYTHON if os.access(SYSTEM_PYTHON, os.X_OK) else sys.executable
        return [python, "-I", "-S", str(Path(agent_file).with_name(name))]

    def read_text(self, path: str) -> str:
        try:
            return Path(path).read_text()
        except OSError:
            return ""

    def kill(self, pid: int, sig: int) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)

    def put(self, path: str, data: bytes, mode: int = 0o644) -> None:
        p = Path(path)
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data)
        p.chmod(mode)

    def close(self) -> None:
        """Nothing to release: every process this target ran has already been waited for."""


__all__ = ["LocalProcess", "LocalTarget", "TargetError"]
