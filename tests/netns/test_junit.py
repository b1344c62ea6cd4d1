"""JUnit that equals the run: serial behave, `nslab run -j N` and merged shards name every
scenario the same and report it once, with the same status; skips say why."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from conftest import needs_netns

from nslab.report.junit import NOT_SELECTED, Merged, feature_name, read

NSLAB = [sys.executable, "-m", "nslab.cli"]

# One feature of seven scenarios (a repeated name, a failure, a real skip, a tag-excluded
# one), in a project made by `nslab init` as a user's would be.
SPLIT = """\
#   pc ---- br-lan ---- web     (nslab init's lab)
Feature: split over workers
  Scenario: pc reaches web
    Given the lab is fully provisioned
    When pc pings web
    Then 0% of packets are lost

  Scenario: pc reaches web
    Given the lab is fully provisioned
    When pc pings web over IPv6
    Then 0% of packets are lost

  Scenario: a wrong expectation fails
    Given the lab is fully provisioned
    When pc pings web
    Then 100% of packets are lost

  @host
  Scenario: a host scenario skips on the local target
    Given the lab is fully provisioned

  @wip
  Scenario: work in progress is excluded by its tag
    Given the lab is fully provisioned

  Scenario Outline: web listens on <port>
    Given the lab is fully provisioned
    And web listens on tcp port <port>
    When pc connects to web on tcp port <port>
    Then the connection is accepted

    Examples:
      | port |
      | 80   |
      | 443  |
"""


def cases(files: list[Path]) -> list[tuple[str, str, str, str, str]]:
    """(suite, classname, name, status, skip message) of every testcase, in file order."""
    out = []
    for f in files:
        for suite in read(f):
            for case in suite:
                status = "passed" if case.is_passed else "skipped" if case.is_skipped else "failed"
                message = next((r.message or "" for r in case.result), "") if status == "skipped" else ""
                out.append((str(suite.name), str(case.classname), str(case.name), status, message))
    return out


def suite_counts(files: list[Path]) -> dict[str, tuple[int, int, int]]:
    return {
        str(s.name): (int(s.tests), int(s.failures) + int(s.errors), int(s.skipped))
        for f in files
        for s in read(f)
    }


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    where = tmp_path_factory.mktemp("junit")
    r = subprocess.run([*NSLAB, "init", "proj"], cwd=where, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    proj = where / "proj"
    (proj / "features" / "example.feature").unlink()  # one feature: the split is the point
    (proj / "features" / "split.feature").write_text(SPLIT)
    return proj


@needs_netns
def test_one_feature_over_workers_and_shards_gives_the_serial_testcases(project: Path) -> None:
    tags = ["-t", "not @wip"]
    serial = project / "serial"
    r = subprocess.run(
        [sys.executable, "-m", "behave", "features/", "-f", "progress", "-D", f"reports={serial}",
         "-D", "html=", "--junit-directory", str(serial / "junit"), *tags],
        cwd=project, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert r.returncode == 1, r.stdout[-3000:] + r.stderr[-2000:]  # the wrong expectation
    want_files = sorted((serial / "junit").glob("*.xml"))
    want = cases(want_files)
    assert [c[3] for c in want] == ["passed", "passed", "failed", "skipped", "skipped", "passed", "passed"]
    assert want[0][1] == "split.split over workers"  # named from below features/, not features.split
    assert "disposable VM" in want[3][4]  # the @host skip's own reason
    assert want[4][4].startswith("excluded by the tag expression")
    # two workers, and four for five scenarios (one alone on a worker); -j 3 proved nothing
    # more (three behave runs, ~3 s of CPU)
    for jobs in (2, 4):
        out = project / f"j{jobs}"
        r = subprocess.run(
            [*NSLAB, "run", "-j", str(jobs), "--reports", str(out), "features/", "--", *tags],
            cwd=project, capture_output=True, text=True, timeout=300,
        )  # fmt: skip
        assert r.returncode == 1, r.stdout[-3000:]
        assert f"on {jobs} workers" in r.stdout  # the feature really was split
        got_files = [out / "junit" / "TESTS-nslab.xml"]
        assert cases(got_files) == want, f"-j {jobs}"
        assert suite_counts(got_files) == suite_counts(want_files)
        assert "4 passed, 1 failed, 2 skipped" in r.stdout
    for n in (2, 4):
        dirs = []
        for k in range(1, n + 1):
            dirs.append(project / f"shard{n}-{k}")
            subprocess.run(
                [*NSLAB, "run", "-j", "1", "--shard", f"{k}/{n}", "--reports", str(dirs[-1]), "features/",
                 "--", *tags],
                cwd=project, capture_output=True, text=True, timeout=300,
            )  # fmt: skip
        merged = project / f"merged{n}"
        r = subprocess.run(
            [*NSLAB, "report", "merge", *map(str, dirs), "-o", str(merged)],
            cwd=project, capture_output=True, text=True,
        )  # fmt: skip
        assert r.returncode == 1 and "4 passed, 1 failed, 2 skipped" in r.stdout, r.stdout + r.stderr
        got_files = [merged / "junit" / "TESTS-nslab.xml"]
        assert cases(got_files) == want, f"{n} shards"
        assert suite_counts(got_files) == suite_counts(want_files)


def _suite(xml: str, path: Path) -> Path:
    path.write_text(xml)
    return path


def test_merge_keeps_the_testcase_that_ran_and_repeated_names_apart(tmp_path: Path) -> None:
    """Pure logic on hand-written files: what a worker given other scenarios reports as
    skipped never hides the verdict of the worker that ran it, whichever file comes first."""
    case = '<testcase classname="f.F" name="{n}" status="{s}" time="{t}">{body}</testcase>'
    skip = f'<skipped message="{NOT_SELECTED}" />'

    def suite(*rows: tuple[str, str, str]) -> str:
        body = "".join(case.format(n=n, s=s, t=1 if s != "skipped" else 0, body=b) for n, s, b in rows)
        return f'<testsuite name="f.F" tests="{len(rows)}">{body}</testsuite>'

    a = tmp_path / "a"
    b = tmp_path / "b"
    a.mkdir()
    b.mkdir()
    _suite(suite(("x", "passed", ""), ("x", "skipped", skip), ("y", "skipped", skip)), a / "1.xml")
    _suite(
        suite(("x", "skipped", skip), ("x", "failed", '<failure message="m"/>'), ("y", "passed", "")),
        b / "1.xml",
    )
    from nslab.report.junit import merge

    merged = merge([a, b], tmp_path / "out")
    assert [(r[1], r[2]) for r in merged.rows()] == [("x", "passed"), ("x", "failed"), ("y", "passed")]
    assert merged.counts() == {"passed": 2, "failed": 1, "skipped": 0}
    (written,) = read(tmp_path / "out" / "TESTS-nslab.xml")
    assert (int(written.tests), int(written.failures), float(written.time)) == (3, 1, 3.0)
    assert isinstance(merged, Merged)


def test_feature_names_do_not_depend_on_the_path_behave_was_given(tmp_path: Path) -> None:
    base = tmp_path
    assert feature_name(base / "features" / "dmz" / "02-edge.feature", base) == "dmz.02-edge"
    assert feature_name(Path("features/01.feature").absolute(), Path(".")) == "01"
    assert feature_name(base / "elsewhere" / "x.feature", base) == "elsewhere.x"
