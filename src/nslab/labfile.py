"""A lab file, read: either notation (the seed's one-bridge tables, or networks and hosts)
into its model, every problem one LabError naming the file and the field. The one place
that knows both notations; each model's module knows only its own."""

from __future__ import annotations

import sys
from pathlib import Path

from nslab.errors import LabError
from nslab.lab import parse_lab
from nslab.routed import AnyLab, is_routed, load_routed

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib


def load_lab(path: str | Path) -> AnyLab:
    """Read and validate a lab file; any problem is one LabError naming the file and field.
    A file with [[network]] / [[host]] tables is a routed lab (nslab.routed)."""
    path = Path(path)
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise LabError(f"{path}: no such lab file", "check the path, or omit it for the seed lab") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise LabError(f"{path}: cannot read lab file: {exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise LabError(f"{path}: not valid TOML: {exc}", "fix the syntax at that line") from None
    try:
        if is_routed(raw):
            return load_routed(raw, path.resolve().parent)
        return parse_lab(raw)
    except LabError as exc:
        raise LabError(f"{path}: {exc.problem}", exc.fix) from None
