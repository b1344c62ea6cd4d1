"""The one persistent lab of `nslab up`: its world's PID, kept in a small state file.

The file lives under /run (a tmpfs), so it vanishes on reboot together with the world
it describes. A PID alone could be reused by another process after the world died; the
process start time stored beside it makes `nslab down` kill only the world it started.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

from nslab.world import WorldInfo


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
