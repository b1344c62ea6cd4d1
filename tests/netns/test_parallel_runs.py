"""Parallel runs and a CI matrix's shards give the serial verdicts, merge their reports and
leave nothing behind."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT, SEED_STORY, host_snapshot, needs_netns

from nslab.report.junit import read as junit_suites
from nslab.runner.selection import Location, scenarios
from nslab.runner.shards import pick, split

NSLAB = [sys.executable, "-m", "nslab.cli"]


def test_every_scenario_and_outline_row_is_found_once() -> None:
    found = scenarios([str(ROOT / "features")])
    assert len({(loc.path, loc.line) for loc in found}) == len(found) >= 25
    rows = [loc for loc in found if "policy x rules" in loc.name or " -- @" in loc.name]
    assert len(rows) == 7  # the outline's Examples rows, each its own scenario


def test_the_workers_split_balances_by_weight_and_keeps_every_item() -> None:
    items = [Location("f", i, f"s{i}", w) for i, w in enumerate([9, 8, 1, 1, 1, 1, 1, 1, 1, 1, 1])]
    bins = split(items, 2)  # the shards' split: one for workers, shards and mutants
    assert sorted(i.line for b in bins for i in b) == list(range(11))
    loads = [sum(i.weight for i in b) for b in bins]
    assert max(loads) - min(loads) <= 1


def _verdicts(junit_dir: Path) -> dict[str, str]:
    out = {}
    for path in junit_dir.glob("*.xml"):
        for suite in junit_suites(path):
            for case in suite:
                # the classname's prefix follows the path given to behave; the feature name does not
                feature = str(case.classname).rsplit(".", 1)[-1]
                out[f"{feature}::{case.name}"] = "passed" if case.is_passed else "failed"
    return out


@pytest.fixture(scope="module")
def serial(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One serial behave run of the seed story and the deliberate failure (JUnit, page,
    reports): the verdicts the parallel run and the shards are held to, made once for
    both (a run of the story is ~5 s of CPU)."""
    serial = tmp_path_factory.mktemp("serial")
    r = subprocess.run(
        [sys.executable, "-m", "behave", "-f", "progress", "--junit-directory", str(serial / "junit"),
         "-D", f"html={serial}/index.html", "-D", f"reports={serial}",
         *SEED_STORY, str(ROOT / "tests" / "features" / "deliberate-failure.feature")],
        cwd=ROOT, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert r.returncode == 1, r.stdout[-3000:]  # the deliberate failure
    return serial


@needs_netns
@pytest.mark.slow  # the seed story in two workers (and serially: the fixture)
def test_parallel_and_serial_verdicts_are_identical(serial: Path, tmp_path: Path) -> None:
    before = host_snapshot()
    par = tmp_path / "parallel"
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "nslab.cli",
            "run",
            "-j",
            "2",
            "--reports",
            str(par),
            *SEED_STORY,
            "tests/features/deliberate-failure.feature",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert r.returncode == 1, r.stdout
    assert "1 failed" in r.stdout
    assert "no summary" not in r.stdout, r.stdout  # every worker ran its share to the end
    want, got = _verdicts(serial / "junit"), _verdicts(par / "junit")
    assert got == want and len(got) >= 26
    index = (par / "index.html").read_text()
    assert (
        "1 failed" in index
        and "parallel/worker-0-steps.html" in index
        and "parallel/worker-1-steps.html" in index
    )
    assert index.index("id='failure-1'") < index.index("id='passed'")  # one report, the failure first
    for page in ("worker-0-steps.html", "worker-1-steps.html"):
        assert (par / "parallel" / page).stat().st_size > 10_000
    assert list((par / "diagnostics").glob("*.txt")), "the failure's diagnostics bundle"
    assert host_snapshot() == before


def test_a_workers_line_is_read_from_its_junit_not_its_text(tmp_path: Path) -> None:
    """The runner's line for a worker counts the JUnit file the worker wrote: scenarios
    passed and failed (a scenario given to another worker, "not selected", is neither) and
    their seconds; a worker that wrote none says so with its exit status."""
    from nslab.report.junit import NOT_SELECTED
    from nslab.runner.parallel import summary

    (tmp_path / "TESTS-a.xml").write_text(
        '<testsuite name="a" tests="4" time="3.5">'
        '<testcase classname="a" name="one" status="passed" time="1.25"/>'
        '<testcase classname="a" name="two" status="passed" time="0.75"/>'
        '<testcase classname="a" name="three" status="failed" time="1.5">'
        '<failure type="AssertionError" message="1 passed, 0 failed"/></testcase>'
        f'<testcase classname="a" name="four" status="skipped" time="0"><skipped message="{NOT_SELECTED}"/>'
        "</testcase></testsuite>"
    )
    assert summary(tmp_path, 1) == "2 passed, 1 failed in 3.50 s"
    assert summary(tmp_path / "none", 2) == "no summary: it wrote no JUnit results (rc=2)"


def verdicts(files: list[Path]) -> list[tuple[str, str, bool]]:
    """(feature, scenario, passed) of every case; a run given file:line locations names its
    suites from the features folder ("features.01-base-lab..."), a plain run from inside it."""
    return sorted(
        (str(s.name).removeprefix("features."), str(c.name), bool(c.is_passed))
        for f in files
        for s in junit_suites(f)
        for c in s
    )


@needs_netns
@pytest.mark.slow  # four shard runs of the seed story (and a serial one: the fixture)
def test_four_shards_one_after_another_merge_to_the_serial_verdicts(serial: Path, tmp_path: Path) -> None:
    """Shards of a CI matrix (`nslab run --shard K/4`, one after another as runners would),
    merged (`nslab report merge`): every scenario exactly once, with the serial run's verdict."""
    story = [f for f in (serial / "junit").glob("*.xml") if "deliberate-failure" not in f.name]
    want = verdicts(story)
    assert want and all(passed for _, _, passed in want)
    timings = tmp_path / "timings.json"
    for k in range(1, 5):
        r = subprocess.run(
            [*NSLAB, "run", "-j", "1", "--shard", f"{k}/4", "--reports", str(tmp_path / f"shard-{k}"),
             "--timings", str(timings), "--update-timings" if k == 4 else "--", *SEED_STORY],
            cwd=ROOT, capture_output=True, text=True, timeout=600,
        )  # fmt: skip
        assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-1000:]
    # the last shard wrote its times (after every shard had computed the same split)
    assert len(json.loads(timings.read_text())) == len(pick(scenarios(list(SEED_STORY)), 4, 4, {}))
    out = tmp_path / "merged"
    shards = [str(tmp_path / f"shard-{k}") for k in range(1, 5)]
    r = subprocess.run(
        [*NSLAB, "report", "merge", *shards, "-o", str(out)], cwd=ROOT, capture_output=True, text=True
    )
    assert r.returncode == 0, r.stdout + r.stderr
    got = verdicts([out / "junit" / "TESTS-nslab.xml"])
    assert got == want  # every scenario exactly once, with the serial run's verdict
    assert f"{len(want)} passed, 0 failed" in r.stdout and (out / "index.html").exists()
