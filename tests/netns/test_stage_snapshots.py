"""Every stage of every shipped lab leaves the state its golden file records (links,
addresses, routes, rules, sysctls and files of every namespace, as tests/support/snapshot
writes them): the proof that a change to the stages or the lab models changed nothing.

The files were taken before the two lab models and their stage sets were merged into one,
and the merge left every one unchanged. The seed lab written in the other notation
(tests/labs/seed-v2.toml) is checked against the seed's own files: a notation, not a lab
of its own. After a deliberate change, write them anew and read the diff:

    NSLAB_GOLDEN=write .venv/bin/pytest tests/netns/test_stage_snapshots.py
"""

from __future__ import annotations

import difflib
import os

import pytest
from conftest import DATA, ROOT, needs_netns
from support import snapshot

from nslab.lab import load_lab
from nslab.machine.provision import provision, stage_names
from nslab.machine.targets.local import LocalTarget
from nslab.machine.world import World

LABS = {"seed": "labs/seed.toml", "three-ns": "labs/three-ns.toml", "dmz": "labs/dmz.toml"}
NOTATIONS = {"seed": "tests/labs/seed-v2.toml"}  # the same lab in the other notation
CASES = [
    (name, i, stage)
    for name, path in LABS.items()
    for i, stage in enumerate(stage_names(load_lab(ROOT / path)), 1)
]


@needs_netns
@pytest.mark.parametrize(("lab_name", "order", "stage"), CASES)
def test_each_stage_of_each_shipped_lab_matches_its_golden_snapshot(
    lab_name: str, order: int, stage: str
) -> None:
    lab = load_lab(ROOT / LABS[lab_name])
    golden = DATA / "stages" / lab_name / f"{order:02d}-{stage}.txt"
    if lab_name in NOTATIONS:  # the other notation's file: the same lab, the same state
        other = load_lab(ROOT / NOTATIONS[lab_name])
        assert other == lab
        with World.start(LocalTarget()) as w:
            provision(w, other, upto=stage)
            assert snapshot.lab(w) == golden.read_text(), f"{NOTATIONS[lab_name]} after {stage}"
    with World.start(LocalTarget()) as w:
        provision(w, lab, upto=stage)
        got = snapshot.lab(w)
    if os.environ.get("NSLAB_GOLDEN") == "write":
        golden.parent.mkdir(parents=True, exist_ok=True)
        golden.write_text(got)
    want = golden.read_text()
    diff = "\n".join(difflib.unified_diff(want.splitlines(), got.splitlines(), "golden", "now", lineterm=""))
    assert got == want, f"{lab_name} after its {stage} stage differs from {golden.name}:\n{diff[:4000]}"
