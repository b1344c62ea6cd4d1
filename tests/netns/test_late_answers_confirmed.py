"""A flow that timed out is probed again with a longer wait before it is called lost: a
late answer (a loaded CI runner) must not turn into a changed flow in nslab diff."""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter
from pathlib import Path

from conftest import ROOT, host_snapshot, needs_netns

NSLAB = [str(Path(sys.executable).with_name("nslab"))]


def _explore(cwd: Path) -> list[dict[str, str]]:
    r = subprocess.run(
        [*NSLAB, "explore", "--lab", "dmz.toml", "--format", "json"],
        cwd=cwd, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


@needs_netns
def test_answers_later_than_the_wait_are_confirmed_not_called_lost(tmp_path: Path) -> None:
    before = host_snapshot()
    for name in ("dmz.toml", "dmz-edge.nft"):
        (tmp_path / name).write_text((ROOT / "labs" / name).read_text())
    usual = _explore(tmp_path)
    # waits of 10 microseconds: nearly every answer comes "late", as on a runner under load
    (tmp_path / "pyproject.toml").write_text("[tool.nslab]\nping_wait = 0.00001\nprobe_wait = 0.00001\n")
    hurried = _explore(tmp_path)
    outcome = {(r["from"], r["to"], r["service"], r["family"]): r["outcome"] for r in usual}
    assert Counter(outcome.values())["accepted"] > 20  # the lab does accept flows
    assert {(r["from"], r["to"], r["service"], r["family"]): r["outcome"] for r in hurried} == outcome
    assert host_snapshot() == before
