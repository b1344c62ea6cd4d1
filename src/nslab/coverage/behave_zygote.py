"""Mutants' behave runs forked from one pre-imported process, not a fresh Python each.

A behave process spends most of a mutant's CPU importing: `import behave.__main__,
behave.runner, nslab.behave.steps, nslab.behave.hooks` took 0.20 s of CPU of a typical
mutant's 0.33 s on a 2-core machine, and a suite runs hundreds. The zygote (this module
run as `python -m nslab.coverage.behave_zygote`, one per Mutator) imports them once, then
forks one child per run: the child is a fresh `python -m behave` in all that a run can
see (its cwd first on sys.path, its environment, argv, stdin /dev/null, stdout and stderr
on files, signal handlers as Python starts with them) and ends by os._exit, never
returning into the zygote. The step registry holds nslab's steps once, as a fresh
process does after its first `from nslab.behave.steps import *`; behave execs the
project's environment.py and steps/*.py in each child, as before.

The protocol, one JSON object a line: a request {"id", "argv", "cwd", "env", "stdout",
"stderr"} on the zygote's stdin; replies on its stdout: {"ready"} once imported, then
{"id", "pid"} as soon as a child is forked (so a stopped run can SIGTERM it) and {"id",
"exit"} when it ends (the zygote reaps its children), or {"id", "error"}.

The client (Zygote) is thread safe: `run` blocks its caller until that run's exit, one
reader thread hands replies to the callers. If the zygote cannot start or dies, `run`
returns None and the caller starts behave as before (a slow verdict beats a wrong one).
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import select
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

MODULE = "nslab.coverage.behave_zygote"  # its argv names behave: tests find mutants' runs by it
# Variables read as Python starts: a run asking for other ones needs a fresh interpreter
_STARTUP = ("PYTHON",)


class Zygote:
    """The Mutator's side: starts the zygote, sends runs, waits for their exits."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._proc: subprocess.Popen[bytes] | None = None
        self._cwd = ""
        self._startup: dict[str, str] = {}
        self._broken = False
        self._next = 0
        self._pids: dict[int, int] = {}  # request id -> the forked child's pid, while it runs
        self._exits: dict[int, int | None] = {}  # request id -> its exit (None: zygote gone)
        self._waiting: set[int] = set()  # request ids whose callers wait
        self._orphans: dict[int, int] = {}  # request id -> pid of a run the dead zygote left
        self._changed = threading.Condition(self._lock)

    def _start(self) -> bool:
        """Start the zygote (under the lock); False if it cannot serve."""
        if self._proc is not None or self._broken:
            return self._proc is not None
        try:
            proc = subprocess.Popen(
                [sys.executable, "-m", MODULE],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
            )  # fmt: skip
            assert proc.stdout is not None
            ready = json.loads(proc.stdout.readline() or b"{}")
        except (OSError, ValueError):
            self._broken = True
            return False
        if not ready.get("ready"):  # it could not import behave or nslab, or has threads
            self._broken = True
            proc.kill()
            proc.wait()
            return False
        self._proc = proc
        self._cwd = os.getcwd()
        self._startup = _startup_env(os.environ)
        threading.Thread(target=self._read, args=(proc,), name="nslab-zygote", daemon=True).start()
        return True

    def _read(self, proc: subprocess.Popen[bytes]) -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            try:
                reply = json.loads(line)
            except ValueError:
                break
            with self._lock:
                if "pid" in reply:
                    self._pids[reply["id"]] = reply["pid"]
                elif "exit" in reply or "error" in reply:
                    self._pids.pop(reply["id"], None)
                    self._exits[reply["id"]] = reply.get("exit")
                self._changed.notify_all()
        with self._lock:  # the zygote is gone: every run still waiting is told so
            self._broken = True
            self._proc = None
            self._orphans.update(self._pids)
            self._pids.clear()
            for n in self._waiting:
                self._exits.setdefault(n, None)
            self._changed.notify_all()

    def run(self, argv: Sequence[str], out: Path, err: Path) -> int | None:
        """behave's exit code for `argv` (its args, not the interpreter's), its output in
        `out` and `err`; None if the zygote cannot run it (the caller runs behave itself)."""
        env = dict(os.environ)
        with self._lock:
            if not self._start() or os.getcwd() != self._cwd or _startup_env(env) != self._startup:
                return None
            n = self._next
            self._next += 1
            request = {
                "id": n,
                "argv": list(argv),
                "cwd": self._cwd,
                "env": env,
                "stdout": str(out),
                "stderr": str(err),
            }
            assert self._proc is not None and self._proc.stdin is not None
            try:
                self._proc.stdin.write(json.dumps(request).encode() + b"\n")
                self._proc.stdin.flush()
            except OSError:
                return None
            self._waiting.add(n)
            while n not in self._exits:
                self._changed.wait()
            self._waiting.discard(n)
            orphan = self._orphans.pop(n, None)
            code = self._exits.pop(n)
        if orphan is not None:  # the zygote died under it: ended before the caller reruns it
            _end(orphan)
        return code

    def running(self) -> list[int]:
        """The pids of the runs going on now."""
        with self._lock:
            return list(self._pids.values())

    def signal(self, sig: int) -> None:
        for pid in self.running():
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)

    def wait_idle(self, timeout: float) -> bool:
        """True once no run is going on (within `timeout` seconds)."""
        with self._lock:
            return self._changed.wait_for(lambda: not self._pids, timeout)

    def close(self) -> None:
        """End the zygote (its runs first: it SIGTERMs any left when its stdin closes)."""
        with self._lock:
            proc, self._proc, self._broken = self._proc, None, True
        if proc is None:
            return
        assert proc.stdin is not None
        with contextlib.suppress(OSError):
            proc.stdin.close()
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _end(pid: int) -> None:
    """End a run that is no child of ours (SIGTERM, then SIGKILL) and wait until it is gone."""
    for sig, within in ((signal.SIGTERM, 30.0), (signal.SIGKILL, 5.0)):
        deadline = time.monotonic() + within
        try:
            os.kill(pid, sig)
            while time.monotonic() < deadline:
                os.kill(pid, 0)  # raises once it is gone (reaped by whoever adopted it)
                time.sleep(0.05)
        except ProcessLookupError:
            return


def _startup_env(env: Mapping[str, str]) -> dict[str, str]:
    return {k: v for k, v in env.items() if k.startswith(_STARTUP)}


# --- the zygote itself -----------------------------------------------------------------------


def _reply(obj: dict[str, Any]) -> None:
    os.write(1, json.dumps(obj).encode() + b"\n")  # one write: a line is never split


def _child(request: dict[str, Any], wake: tuple[int, int]) -> None:
    """In the forked child: become `python -m behave ARGV` and end by os._exit."""
    import atexit
    import traceback

    code = 1
    try:
        atexit._clear()  # the zygote's; the run's own are run below, as a fresh process would
        signal.set_wakeup_fd(-1)
        for fd in wake:
            os.close(fd)
        for sig in (signal.SIGCHLD, signal.SIGTERM):
            signal.signal(sig, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        try:
            code = _behave(request)
        except SystemExit as exc:  # as Python exits on one: its code, or its message and 1
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
            if exc.code is not None and not isinstance(exc.code, int):
                print(exc.code, file=sys.stderr)
        threading._shutdown()  # type: ignore[attr-defined]  # as Python's exit: wait for threads
        atexit._run_exitfuncs()
    except KeyboardInterrupt:  # as Python ends on an uncaught one: its traceback, then SIGINT
        traceback.print_exc()
        _flush()
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        os.kill(os.getpid(), signal.SIGINT)
    except BaseException:
        traceback.print_exc()
    finally:
        _flush()
        os._exit(code)


def _flush() -> None:
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()


def _behave(request: dict[str, Any]) -> int:
    import behave.__main__

    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.close(null)
    for fd, path in ((1, request["stdout"]), (2, request["stderr"])):
        opened = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        os.dup2(opened, fd)
        os.close(opened)
    # fresh objects on the fds, buffered as Python buffers them when they are not a tty
    enc = sys.stdout.encoding
    for name, fd, errors in (
        ("stdin", 0, "strict"),
        ("stdout", 1, "strict"),
        ("stderr", 2, "backslashreplace"),
    ):
        raw = open(fd, "wb" if fd else "rb", closefd=False)  # noqa: SIM115
        stream = io.TextIOWrapper(raw, encoding=enc, errors=errors, line_buffering=name == "stderr")
        setattr(sys, name, stream)
        setattr(sys, f"__{name}__", stream)
    os.chdir(request["cwd"])
    os.environ.clear()
    os.environ.update(request["env"])
    sys.path[0] = request["cwd"]  # as `python -m` puts it
    sys.argv = [behave.__main__.__file__, *request["argv"]]
    sys.modules["__main__"] = behave.__main__
    return int(behave.__main__.main(list(request["argv"])) or 0)


def _serve() -> None:
    """Read requests until stdin closes; fork a child for each, report its pid and exit."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the Mutator's to handle, and the runs'
    wake = os.pipe()
    for fd in wake:
        os.set_blocking(fd, False)
    signal.set_wakeup_fd(wake[1])
    signal.signal(signal.SIGCHLD, lambda *_: None)  # wakes select through the pipe
    kids: dict[int, int] = {}  # pid -> request id
    pending = b""
    reading = True
    while reading or kids:
        ready, _, _ = select.select([0, wake[0]] if reading else [wake[0]], [], [], 1.0)
        with contextlib.suppress(BlockingIOError):
            os.read(wake[0], 4096)
        while kids:
            pid, status = os.waitpid(-1, os.WNOHANG)
            if pid == 0:
                break
            _reply({"id": kids.pop(pid), "exit": os.waitstatus_to_exitcode(status)})
        if 0 not in ready:
            continue
        data = os.read(0, 65536)
        if not data:  # the Mutator is gone: its runs' results have no reader
            reading = False
            for pid in kids:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGTERM)
            continue
        pending += data
        while b"\n" in pending:
            line, pending = pending.split(b"\n", 1)
            request = json.loads(line)
            try:
                pid = os.fork()
            except OSError as exc:
                _reply({"id": request["id"], "error": str(exc)})
                continue
            if pid == 0:
                _child(request, wake)
            kids[pid] = request["id"]
            _reply({"id": request["id"], "pid": pid})


def main() -> None:
    try:
        import behave.__main__
        import behave.configuration
        import behave.runner  # noqa: F401

        import nslab.behave.hooks
        import nslab.behave.steps  # noqa: F401
    except Exception as exc:
        _reply({"ready": False, "why": str(exc)})
        return
    if threading.active_count() != 1:  # fork is only safe from a process with one thread
        _reply({"ready": False, "why": f"{threading.active_count()} threads after the imports"})
        return
    _reply({"ready": True})
    _serve()


if __name__ == "__main__":
    main()
