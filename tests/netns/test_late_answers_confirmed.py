"""A flow that timed out is probed again with a longer wait before it is called lost: a
late answer (a loaded CI runner) must not turn into a changed flow in nslab diff."""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any, cast

from conftest import ROOT, host_snapshot, needs_netns

from nslab.reach.discovery import Discovery
from nslab.reach.explore import Explorer, Measured, Verdict
from nslab.reach.flows import Flow

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


def test_the_flows_probed_again_are_named_as_they_were() -> None:
    """Pure: `nslab init`'s lab, whose hosts have no route to the internet, read "20 flows
    got no answer: probing them again": they were unreachable, and it says so."""
    said: list[str] = []
    explorer = object.__new__(Explorer)  # _confirmed alone: its progress and its probing
    explorer.progress, explorer.confirming = said.append, False
    explorer.nd = Discovery(lambda: cast(Any, None), [])  # no flow lost to neighbour discovery
    explorer._measure = lambda flows, traced: [Measured(f, Verdict("dropped")) for f in flows]  # type: ignore[method-assign]

    def first(*outcomes: str) -> list[Measured]:
        return [Measured(Flow("pc", "web", "tcp", 80 + n), Verdict(o)) for n, o in enumerate(outcomes)]

    explorer._confirmed(first("unreachable", "unreachable", "accepted"), True)
    explorer._confirmed(first("dropped", "unreachable", "no answer"), True)
    explorer._confirmed(first("lost", "replies"), True)
    assert said == [
        "2 flows were unreachable: probing them again, waiting longer",
        "2 flows got no answer and 1 were unreachable: probing them again, waiting longer",
        "1 flows got no answer: probing them again, waiting longer",
    ]
