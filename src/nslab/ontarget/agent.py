"""Process running for every target: used in-process by the local target, and uploaded
and run with python3 on the far side of an ssh target as a tiny command server.

Standard library only, and nothing from nslab: this file must run alone on a remote
machine. Over ssh, one agent per run serves every command on one channel (JSON lines,
one write per reply), instead of one exec channel per command: an exec channel costs
a session fork, a sudo, and TCP small-packet delays (~150 ms measured on loopback); a
command through the agent costs a few milliseconds.

Requests and replies are one JSON object per line:
    {"id": 1, "op": "run", "argv": [...], "env": {...}, "stdin": "...", "timeout": 60}
    {"id": 1, "rc": 0, "stdout": "...", "stderr": "...", "seconds": 0.003, "timed_out": false}
A long command also sends {"id": 1, "stream": "stdout", "data": "..."} while it runs.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import select
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, BinaryIO

PR_SET_PDEATHSIG = 1
STREAM_AFTER = 1.0  # seconds: shorter commands reply in one piece


def die_with_parent() -> None:  # pragma: no cover - runs in the child between fork and exec
    """Ask the kernel to SIGKILL the child when its parent dies, even by SIGKILL."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


def execute(
    argv: Sequence[str],
    env: Mapping[str, str] | None = None,
    stdin: str | None = None,
    timeout: float = 60.0,
    on_output: Callable[[str, str], None] | None = None,
) -> dict[str, Any]:
    """Run argv, kill its whole process group on timeout; FileNotFoundError if not installed.

    A session of its own, so a timeout kills everything the command started (nsenter
    forks into a world's PID namespace; killing nsenter alone would not reach that)."""
    start = time.monotonic()
    proc = subprocess.Popen(
        list(argv),
        stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, **env} if env else None,
        start_new_session=True,
    )
    if stdin is not None:
        assert proc.stdin is not None
        with contextlib.suppress(BrokenPipeError):
            proc.stdin.write(stdin.encode())
        proc.stdin.close()
    chunks: dict[int, list[bytes]] = {}
    names = {}
    for name, pipe in (("stdout", proc.stdout), ("stderr", proc.stderr)):
        assert pipe is not None
        chunks[pipe.fileno()] = []
        names[pipe.fileno()] = name
    open_fds = set(chunks)
    streamed: dict[int, int] = dict.fromkeys(chunks, 0)
    timed_out = False
    while open_fds:
        left = start + timeout - time.monotonic()
        if left <= 0:
            timed_out = True
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            break
        ready, _, _ = select.select(list(open_fds), [], [], min(left, 0.5))
        for fd in ready:
            data = os.read(fd, 65536)
            if data:
                chunks[fd].append(data)
            else:
                open_fds.discard(fd)
        if on_output and time.monotonic() - start > STREAM_AFTER:
            for fd, parts in chunks.items():
                if len(parts) > streamed[fd]:
                    on_output(names[fd], b"".join(parts[streamed[fd] :]).decode(errors="replace"))
                    streamed[fd] = len(parts)
    rc = proc.wait()
    for pipe in (proc.stdout, proc.stderr):
        assert pipe is not None
        pipe.close()
    out = {}
    for fd, parts in chunks.items():
        out[names[fd]] = b"".join(parts[streamed[fd] :] if on_output else parts).decode(errors="replace")
    return {
        "rc": -signal.SIGKILL if timed_out else rc,
        "stdout": out["stdout"],
        "stderr": out["stderr"],
        "seconds": time.monotonic() - start,
        "timed_out": timed_out,
    }


class Child:
    """A long-lived process (a world's holder): its output read line by line with a deadline."""

    def __init__(self, argv: Sequence[str], detach: bool) -> None:
        argv, preexec = list(argv), None
        if not detach:
            # PDEATHSIG through util-linux's setpriv where it exists: a preexec_fn would make
            # Python fork() instead of vfork(), ~2 ms per world instead of ~0.2 ms.
            if shutil.which("setpriv"):
                argv = ["setpriv", "--pdeathsig", "KILL", *argv]
            else:
                preexec = die_with_parent
        self.popen = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL if detach else subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=detach,
            preexec_fn=preexec,
        )
        self.pid = self.popen.pid
        self._buf = b""
        self._at = 0  # where the next line starts in _buf

    def readline(self, timeout: float) -> str:
        """One line (or what came before the deadline); reads in chunks, keeps the rest.
        A line is sliced off at an offset: partitioning the buffer copied the rest of a
        64 KiB chunk for every line (quadratic: seconds for nslab explore's trace of a
        100-host lab, millions of lines)."""
        assert self.popen.stdout is not None
        fd = self.popen.stdout.fileno()
        deadline = time.monotonic() + timeout
        while (end := self._buf.find(b"\n", self._at)) < 0:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([fd], [], [], left)[0]:
                break
            chunk = os.read(fd, 65536)
            if not chunk:
                break
            self._buf, self._at = self._buf[self._at :] + chunk, 0
        stop = len(self._buf) if end < 0 else end + 1
        line, self._at = self._buf[self._at : stop], stop
        return line.decode(errors="replace")

    def write(self, data: str) -> None:
        """Send data to the child's stdin (a request to a helper such as netprobe)."""
        assert self.popen.stdin is not None
        self.popen.stdin.write(data.encode())
        self.popen.stdin.flush()

    def read_rest(self) -> str:
        assert self.popen.stdout is not None
        rest, self._buf, self._at = self._buf[self._at :] + self.popen.stdout.read(), b"", 0
        return rest.decode(errors="replace")

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


def serve(inp: BinaryIO, out: BinaryIO) -> None:
    """Answer requests until stdin closes; then every child's stdin closes with us."""
    children: dict[int, Child] = {}

    def reply(obj: dict[str, Any]) -> None:
        out.write(json.dumps(obj).encode() + b"\n")
        out.flush()

    reply(
        {"ready": True, "uid": os.geteuid(), "python": sys.version.split()[0], "executable": sys.executable}
    )
    for raw in inp:
        req = json.loads(raw)
        rid, op = req.get("id"), req.get("op")
        try:
            if op == "run":

                def stream(name: str, data: str, rid: int = rid) -> None:
                    reply({"id": rid, "stream": name, "data": data})

                timeout = req.get("timeout", 60)
                result = execute(req["argv"], req.get("env"), req.get("stdin"), timeout, stream)
                reply({"id": rid, **result})
            elif op == "spawn":
                child = Child(req["argv"], req.get("detach", False))
                children[child.pid] = child
                reply({"id": rid, "handle": child.pid})
            elif op in ("readline", "read_rest", "close_stdin", "wait", "kill", "write"):
                child = children[req["handle"]]
                if op == "readline":
                    value: Any = child.readline(req.get("timeout", 10))
                elif op == "write":
                    child.write(req["data"])
                    value = None
                elif op == "wait":
                    value = child.wait(req.get("timeout", 5))
                else:
                    value = getattr(child, op)()
                if op == "kill":
                    children.pop(req["handle"], None)
                reply({"id": rid, "value": value})
            else:
                reply({"id": rid, "error": "badop", "message": f"unknown op {op!r}"})
        except FileNotFoundError:
            reply({"id": rid, "error": "notfound", "message": req.get("argv", ["?"])[0]})
        except Exception as exc:  # the agent must answer, whatever happened
            reply({"id": rid, "error": "failed", "message": f"{type(exc).__name__}: {exc}"})


# bash started with -c by a process whose environment says "ssh session" (SSH_CLIENT set,
# SHLVL below 2) reads the login user's ~/.bashrc, as if it were the login shell: every
# world holder and script would run it (pyenv's init there cost ~130 ms a world, and a
# world killed mid-way left pyenv's rehash lock behind, stalling every later login).
SSH_SESSION_VARS = ("SSH_CLIENT", "SSH2_CLIENT", "SSH_CONNECTION", "SSH_TTY")


def forget_ssh_session() -> None:
    for name in SSH_SESSION_VARS:
        os.environ.pop(name, None)


if __name__ == "__main__":
    forget_ssh_session()
    serve(sys.stdin.buffer, sys.stdout.buffer)
