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
    both start one, leaving a world no state file knows. The second is refused at once."""
    path = state_file().with_suffix(".lock")
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise NslabError(
                "another `nslab up` or `nslab down` is running", "wait for it, then check `nslab status`"
            ) from None
        yield
