"""What the explore and diff tests share: nslab's command, and the dmz story's lab copied
with its ruleset as is or changed."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from conftest import ROOT

NSLAB = [sys.executable, "-m", "nslab.cli"]
DMZ = ROOT / "labs" / "dmz.toml"


def nslab(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*NSLAB, *args], cwd=cwd, capture_output=True, text=True, timeout=300)


def dmz_copy(where: Path, rules: str | Callable[[str], str] | None = None) -> Path:
    where.mkdir(parents=True, exist_ok=True)
    (where / "dmz.toml").write_text(DMZ.read_text())
    nft = (ROOT / "labs" / "dmz-edge.nft").read_text()
    (where / "dmz-edge.nft").write_text(nft if rules is None else rules(nft) if callable(rules) else rules)
    return where / "dmz.toml"
