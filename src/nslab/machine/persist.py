"""The one persistent lab of `nslab up`: its world's PID, kept in a small state file.

The file lives under /run (a tmpfs), so it vanishes on reboot together with the world
it describes. A PID alone could be reused by another process after the world died; the
process start time stored beside it makes `nslab down` kill only the world it started.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

from nslab.errors import NslabError
from nslab.machine.world import WorldInfo


def state_file() -> Path:
    if "NSLAB_STATE" in os.environ:
        return Path(os.environ["NSLAB_STATE"])
    base = Path("/run") if os.geteuid() == 0 else Path(os.environ.get("XDG_RUNTIME_DIR", "/tmp"))
    return base / "nslab" / "lab.json"


@dataclass
class LabState:
    world: WorldInfo
    lab: str  # lab file path, "" for the seed lab
    stages: list[str]

    def save(self) -> None:
        path = state_file()
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({"world": asdict(self.world), "lab": self.lab, "stages": self.stages}))

    @staticmethod
    def load() -> LabState | None:
        try:
            raw = json.loads(state_file().read_text())
            return LabState(WorldInfo(**raw["world"]), raw["lab"], raw["stages"])
        except (OSError, ValueError, KeyError, TypeError):
            return None

    @staticmethod
    def forget() -> None:
        state_file().unlink(missing_ok=True)


@contextlib.contextmanager
def exclusive() -> Iterator[None]:
    """One `nslab up` or `nslab down` at a time: two at once would both find no lab up and
    both start one, leaving a world no state file knows. The second is refused at once.

    When no lab is left up (after `nslab down`, or an `nslab up` that failed) the lock file
    is removed too: `nslab down` left an empty lab.lock behind. It is removed while still
    held, and a taker checks that the file it locked is still the one at the path, so an
    `nslab up` that opened the file just before it went never shares the lock with one that
    made a new file."""
    path = state_file().with_suffix(".lock")
    while True:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise NslabError(
                "another `nslab up` or `nslab down` is running", "wait for it, then check `nslab status`"
            ) from None
        if _same_file(fd, path):
            break
        os.close(fd)  # its holder removed it after we opened it: take the new one
    try:
        yield
    finally:
        if not state_file().exists():
            path.unlink(missing_ok=True)
        os.close(fd)


def _same_file(fd: int, path: Path) -> bool:
    try:
        st = path.stat()
    except FileNotFoundError:
        return False
    mine = os.fstat(fd)
    return (mine.st_dev, mine.st_ino) == (st.st_dev, st.st_ino)
