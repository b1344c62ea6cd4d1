"""The behave processes of one `nslab mutate`: started for its runs, ended by close().

A mutant's run is forked from the zygote (nslab.coverage.behave_zygote: behave and nslab
imported once, not in every run); the unmutated run, and any run the zygote cannot take,
is a fresh `python -m behave` as before. Either way the caller gets the same
CompletedProcess: exit code, stdout and stderr.
"""

from __future__ import annotations

import contextlib
import signal
import subprocess
import sys
import threading
from collections.abc import Sequence
from pathlib import Path

from nslab.coverage.behave_zygote import Zygote


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
