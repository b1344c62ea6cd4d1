"""Processes seen through /proc: for tests that prove nothing outlived a world or a server."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterable
from pathlib import Path


def descendants(pid: int) -> list[int]:
    """Every process below `pid` (children, their children, ...), by PID."""
    found: list[int] = []
    todo = [pid]
    while todo:
        parent = todo.pop()
        try:
            kids = Path(f"/proc/{parent}/task/{parent}/children").read_text().split()
        except OSError:
            continue
        for kid in map(int, kids):
            if kid not in found:
                found.append(kid)
                todo.append(kid)
    return found


def alive(pid: int) -> bool:
    """Running: not gone and not a zombie (a zombie holds nothing but its exit status)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def comm(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return ""


def wait_gone(pids: Iterable[int], within: float = 10.0) -> list[int]:
    """Wait until none of `pids` is alive; return those still alive after `within` seconds."""
    pids = list(pids)
    deadline = time.monotonic() + within
    while any(alive(p) for p in pids) and time.monotonic() < deadline:
        time.sleep(0.02)
    return [p for p in pids if alive(p)]


# A subreaper (prctl PR_SET_CHILD_SUBREAPER = 36) adopts every orphan below it: whatever a
# run left running, even after its own parent ended, is still found among its descendants,
# and nothing another suite on the same machine started ever is.
_REAPER = """
import ctypes, json, os, signal, subprocess, sys, time
sys.path.insert(0, sys.argv.pop(1))  # this folder: procs' own alive and descendants
from procs import alive, descendants
if ctypes.CDLL(None, use_errno=True).prctl(36, 1, 0, 0, 0) != 0:
    sys.exit("cannot become a subreaper: errno %d" % ctypes.get_errno())
rc = subprocess.call(sys.argv[2:])
deadline = time.monotonic() + 3
while True:
    try:
        while os.waitpid(-1, os.WNOHANG)[0] > 0:
            pass
    except ChildProcessError:
        pass
    left = [p for p in descendants(os.getpid()) if alive(p)]
    if not left or time.monotonic() > deadline:
        break
    time.sleep(0.05)
names = []
for p in left:
    try:
        names.append(open(f"/proc/{p}/cmdline", "rb").read().replace(b"\\0", b" ").decode().strip())
        os.kill(p, signal.SIGKILL)  # ours: started below this process
    except OSError:
        pass
with open(sys.argv[1], "w") as out:
    json.dump(names, out)
sys.exit(rc)
"""


def run_reaping(argv: list[str], **kwargs: object) -> tuple[subprocess.CompletedProcess[str], list[str]]:
    """Run argv (subprocess.run's keyword arguments) and return, besides its result, the
    command lines of every process it started that still ran once it ended (after up to
    3 s of grace): only this run's, whatever else runs on the machine. Those are ended."""
    import json
    import sys
    import tempfile

    with tempfile.NamedTemporaryFile(prefix="nslab-left-", suffix=".json") as left:
        here = str(Path(__file__).parent)
        done = subprocess.run([sys.executable, "-c", _REAPER, here, left.name, *argv], **kwargs)  # type: ignore[call-overload]
        text = Path(left.name).read_text()
    return done, json.loads(text) if text else []
