"""The behave processes of one `nslab mutate`: started for its runs, ended by close().

A mutant's run is forked from the zygote (nslab.behave.zygote: behave and nslab imported
once, not in every run); the unmutated run, and any run the zygote cannot take, is a
fresh `python -m behave` as before. Either way the caller gets the same CompletedProcess:
exit code, stdout and stderr.

Zygote is the Mutator's side of the zygote, thread safe: `run` blocks its caller until
that run's exit, one reader thread hands replies to the callers. If the zygote cannot
start or dies, `run` returns None and the caller starts behave as before (a slow verdict
beats a wrong one).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

# started by name, not imported: it imports nslab's steps (a layer above this one); its
# argv names behave, as a test finds mutants' runs by it
MODULE = "nslab.behave.zygote"
# Variables read as Python starts (the interpreter's, the locale that sets its encodings):
# a run asking for other ones needs a fresh interpreter
_STARTUP = ("PYTHON", "LANG", "LC_")


class BehaveRuns:
    def __init__(self, fork: bool = True) -> None:
        # the behave processes running now: a stopped run ends them before it goes, as
        # their worlds and reports lie under the scratch folder the Mutator removes
        self._running: set[subprocess.Popen[str]] = set()
        self._lock = threading.Lock()
        self._stopping = False
        self._zygote = Zygote() if fork else None

    def _check(self) -> None:
        if self._stopping:
            raise KeyboardInterrupt  # the run was stopped: no new behave

    def run(self, args: Sequence[str], logs: Path, fork: bool) -> subprocess.CompletedProcess[str]:
        """behave with `args`; forked from the zygote if `fork` (its output in `logs`)."""
        argv = [sys.executable, "-m", "behave", *args]
        with self._lock:
            self._check()
            zygote = self._zygote if fork else None
        if zygote is not None:
            out, err = logs / "behave.stdout", logs / "behave.stderr"
            code = zygote.run(args, out, err)
            if code is not None:
                said = [p.read_text(errors="replace") if p.exists() else "" for p in (out, err)]
                return subprocess.CompletedProcess(argv, code, *said)
        with self._lock:
            self._check()
            proc = subprocess.Popen(
                argv,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                stdin=subprocess.DEVNULL,
            )
            self._running.add(proc)
        out_text, err_text = proc.communicate()  # stopped here, it stays in _running for close()
        with self._lock:
            self._running.discard(proc)
        return subprocess.CompletedProcess(argv, proc.returncode, out_text, err_text)

    def close(self) -> None:
        """End every behave still running (SIGTERM: behave ends its worlds, as on Ctrl-C;
        SIGKILL after 30 s: its worlds die with it), then the zygote."""
        with self._lock:
            self._stopping = True
            running = list(self._running)
        for proc in running:
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(signal.SIGTERM)
        if self._zygote is not None:
            self._zygote.signal(signal.SIGTERM)
        for proc in running:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if self._zygote is not None:
            if not self._zygote.wait_idle(30):
                self._zygote.signal(signal.SIGKILL)
                self._zygote.wait_idle(5)
            self._zygote.close()


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
        self._reader: threading.Thread | None = None

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
        self._reader = threading.Thread(target=self._read, args=(proc,), name="nslab-zygote", daemon=True)
        self._reader.start()
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
        if self._reader is not None:
            self._reader.join(10)  # it reads the zygote's last replies, then EOF
        if proc.stdout is not None and (self._reader is None or not self._reader.is_alive()):
            proc.stdout.close()


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
