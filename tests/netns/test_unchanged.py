"""The package tree was rearranged with behaviour unchanged: what nslab answers on the
shipped labs is what it answered before the move, recorded then in tests/data/unchanged/.

- `nslab explore --format json` of every shipped lab: every row, every field;
- the dmz story's rule coverage (`reports/rule-coverage.json`): the same rules, each hit
  or not as before (hit counts of `established` rules vary with retransmissions);
- `nslab mutate --format json` of dmz-edge.nft against features/dmz: the same mutants,
  each with the same verdict (tests/netns/test_mutate_labs.py: the same mutants and 8 of
  their verdicts in the suite, every verdict under `pytest -m soak`).

The per-stage snapshots of every shipped lab are tests/netns/test_stage_snapshots.py's. After a
deliberate change of an answer, record anew and read the diff:

    .venv/bin/nslab explore --lab labs/dmz.toml --format json > tests/data/unchanged/explore-dmz.json
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import pytest
from conftest import DATA, needs_netns, run_behave
from support.corpus import PATIENT, nslab

UNCHANGED = DATA / "unchanged"
LABS = ["seed", "three-ns", "dmz"]

pytestmark = needs_netns


@pytest.mark.parametrize("lab", LABS)
def test_explore_answers_as_before_the_move(lab: str) -> None:
    r = nslab("explore", "--lab", f"labs/{lab}.toml", "--format", "json", *PATIENT)
    assert r.returncode == 0, r.stderr[-2000:]
    before = json.loads((UNCHANGED / f"explore-{lab}.json").read_text())
    after = json.loads(r.stdout)
    assert len(after) == len(before)
    for old, new in zip(before, after, strict=True):
        assert new == old


def _hit(report: list[dict[str, object]]) -> list[tuple[object, ...]]:
    return [
        (f["file"], f["place"], f["kind"], r["line"], r["rule"], r["hits"] > 0)  # type: ignore[index,operator]
        for f in report
        for r in f["rules"]  # type: ignore[union-attr]
    ]


def test_dmz_rule_coverage_as_before_the_move() -> None:
    with tempfile.TemporaryDirectory(prefix="nslab-unchanged-") as tmp:
        r = run_behave(
            "-D", "lab=labs/dmz.toml", "features/dmz", "-D", "html=", "-f", "null",
            "-D", f"reports={tmp}", "--junit-directory", str(Path(tmp) / "junit"),
        )  # fmt: skip
        assert r.returncode == 0, (r.stdout + r.stderr)[-3000:]
        after = json.loads((Path(tmp) / "rule-coverage.json").read_text())
    before = json.loads((UNCHANGED / "rule-coverage-dmz.json").read_text())
    assert _hit(after) == _hit(before)
