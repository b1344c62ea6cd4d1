"""The embedded default target: this host, via subprocess with argv lists (never shell=True).

>>> t = LocalTarget()
>>> t.run(["echo", "hi"]).stdout
'hi\\n'
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import select
import signal
import subprocess
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

from nslab.errors import TargetError
from nslab.targets.base import Command, CommandError, CommandLog, Result, describe

PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:  # pragma: no cover - runs in the child between fork and exec
    """Ask the kernel to SIGKILL the child when this process dies, even by SIGKILL."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


class LocalProcess:
    """A long-lived local child: its stdout read line by line with a deadline."""

    def __init__(self, popen: subprocess.Popen[bytes]) -> None:
        self.popen = popen
        self.pid = popen.pid

    def readline(self, timeout: float) -> str:
        assert self.popen.stdout is not None
        fd = self.popen.stdout.fileno()
        buf = b""
        deadline = time.monotonic() + timeout
        while not buf.endswith(b"\n"):
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([fd], [], [], left)[0]:
                break
            chunk = os.read(fd, 1)
            if not chunk:
                break
            buf += chunk
        return buf.decode(errors="replace")

    def read_rest(self) -> str:
        assert self.popen.stdout is not None
        return self.popen.stdout.read().decode(errors="replace")

    def close_stdin(self) -> None:
        if self.popen.stdin and not self.popen.stdin.closed:
            self.popen.stdin.close()

    def wait(self, timeout: float) -> int | None:
        try:
            return self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            return None

    def kill(self) -> None:
        if self.popen.poll() is None:
            self.popen.kill()
        self.popen.wait()
        if self.popen.stdout:
            self.popen.stdout.close()


class LocalTarget:
    """Runs commands on this host. Scenarios never use it bare: they run in a World on it."""

    name = "local"

    def __init__(self) -> None:
        self.is_root = os.geteuid() == 0
        self.log = CommandLog()

    def run(
        self,
        cmd: Command,
        *,
        env: Mapping[str, str] | None = None,
        stdin: str | None = None,
        timeout: float = 60.0,
        check: bool = False,
    ) -> Result:
        argv = ["bash", "-euo", "pipefail", "-c", cmd] if isinstance(cmd, str) else list(cmd)
        full_env = {**os.environ, **env} if env else None
        start = time.monotonic()
        try:
            # A session of its own, so a timeout can kill everything the command started
            # (nsenter forks into the world's PID namespace; killing nsenter alone would not).
            proc = subprocess.Popen(
                argv,
                stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                env=full_env,
                start_new_session=True,
            )
        except FileNotFoundError:
            raise TargetError(
                f"'{argv[0]}' is not installed on this host",
                "run `nslab doctor` to see what to install",
            ) from None
        timed_out = False
        try:
            out, err = proc.communicate(stdin.encode() if stdin is not None else None, timeout=timeout)
        except subprocess.TimeoutExpired:
            timed_out = True
            with contextlib.suppress(ProcessLookupError):  # already gone
                os.killpg(proc.pid, signal.SIGKILL)
            out, err = proc.communicate()
        result = Result(
            command=describe(cmd),
            rc=proc.returncode if not timed_out else -signal.SIGKILL,
            stdout=out.decode(errors="replace"),
            stderr=err.decode(errors="replace"),
            seconds=time.monotonic() - start,
            timed_out=timed_out,
        )
        self.log.add(result)
        if check and not result.ok:
            raise CommandError(result)
        return result

    def spawn(self, argv: Sequence[str], *, detach: bool = False) -> LocalProcess:
        """Start a long-lived process; unless detached it dies when this process dies."""
        try:
            popen = subprocess.Popen(
                list(argv),
                stdin=subprocess.DEVNULL if detach else subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                start_new_session=detach,
                preexec_fn=None if detach else _die_with_parent,
            )
        except FileNotFoundError:
            raise TargetError(
                f"'{argv[0]}' is not installed on this host", "run `nslab doctor` to see what to install"
            ) from None
        return LocalProcess(popen)

    def put(self, path: str, data: bytes, mode: int = 0o644) -> None:
        p = Path(path)
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data)
        p.chmod(mode)

    def close(self) -> None:
        """Nothing to release: every process this target ran has already been waited for."""
