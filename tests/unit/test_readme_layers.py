"""README's "How it works" names the package as it is: a new user looked for managers/ and
config.py under machine/ (the picture put them there), and for the step modules the list
left out."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]
SRC = ROOT / "src" / "nslab"


def how_it_works() -> str:
    text = (ROOT / "README.md").read_text()
    start = text.index("\n## How it works\n")
    return text[start : text.index("\n## ", start + 1)]


def test_every_step_module_is_named_where_a_step_goes() -> None:
    section = how_it_works()
    bullet = section[section.index("- **a step**") :].split("\n- ")[0]
    modules = sorted(p.stem for p in (SRC / "behave" / "steps").glob("*.py") if p.stem != "__init__")
    missing = [m for m in modules if not re.search(rf"\b{m}\b", bullet)]
    assert not missing, f"the step bullet of README's How it works misses {missing}"


def test_the_layer_picture_places_each_folder_where_it_is() -> None:
    picture = how_it_works().split("```")[3]  # the second block: the package tree
    rows: list[tuple[str, str]] = []  # (a layer's label, its row with continuation lines)
    for line in picture.splitlines():
        m = re.match(r" (\w+/?)\s{2,}(.*)", line)
        if m:
            rows.append((m[1], m[2]))
        elif rows and line.startswith("            "):
            rows[-1] = (rows[-1][0], f"{rows[-1][1]} {line.strip()}")
    assert [folder for folder, _ in rows][-3:] == ["firewall/", "lab/", "base"], rows
    for folder, row in rows:
        if not folder.endswith("/"):
            continue  # top, base: a few folders and modules each, not one folder
        assert (SRC / folder).is_dir(), folder
        # a folder or module a row names lies in that layer's folder, or the row says it
        # lies beside it (managers/ and config.py are src/nslab/'s own, not machine/'s)
        for name in re.findall(r"(?<![\w/])([a-z_]+/|[a-z_]+\.py)(?![\w/])", row):
            if not (SRC / folder / name).exists():
                assert (SRC / name).exists() and "beside it in src/nslab/" in row, (name, folder, row)


def test_every_module_named_exists() -> None:
    named = set(re.findall(r"`(nslab(?:\.\w+)+)", how_it_works()))
    missing = sorted(n for n in named if not _exists(n))
    assert not missing, missing
    assert "nslab.probe.trace" in named  # explore and firewalld labs decide from it


def _exists(dotted: str) -> bool:
    """A module, or a name in one (`nslab.needs.NEEDS`)."""
    try:
        if importlib.util.find_spec(dotted) is not None:
            return True
    except ModuleNotFoundError:
        pass
    module, _, name = dotted.rpartition(".")
    return hasattr(importlib.import_module(module), name)
