"""Lab files: read one (either notation) into the lab model, every problem one LabError
naming the file and the field; the labs nslab ships, the seed's among them."""

from __future__ import annotations

import functools
import sys
from pathlib import Path

from nslab.errors import LabError
from nslab.lab.model import Lab
from nslab.lab.tables import read_lab

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.10 only
    import tomli as tomllib

SEED_LAB = Path(__file__).resolve().parents[1] / "labs" / "seed.toml"  # in the wheel


def bundled_labs() -> Path:
    """The folder of the labs nslab ships (the wheel's, or this checkout's labs/)."""
    if SEED_LAB.exists():
        return SEED_LAB.parent
    return Path(__file__).resolve().parents[3] / "labs"


@functools.cache  # a frozen value, read once: steps ask for it per scenario
def default_lab() -> Lab:
    """The seed's lab (docs/seed-story.md): red and blue on br0, gateway 10.16.0.1, chain NAVY."""
    return load_lab(bundled_labs() / "seed.toml")


def load_lab(path: str | Path) -> Lab:
    """Read and validate a lab file; any problem is one LabError naming the file and field."""
    path = Path(path)
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise LabError(
            f"{path}: no such lab file",
            # "omit it for the seed lab" was wrong in a project: omitted, its own lab is taken
            "check the path; without one, nslab takes [tool.nslab] lab, else the seed lab",
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise LabError(f"{path}: cannot read lab file: {exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise LabError(f"{path}: not valid TOML: {exc}", "fix the syntax at that line") from None
    try:
        return read_lab(raw, path.resolve().parent)
    except LabError as exc:
        raise LabError(f"{path}: {exc.problem}", exc.fix) from None
