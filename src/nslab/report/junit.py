"""JUnit XML: one name per scenario whatever ran it, and a merge that equals the serial run.

Test-history tools (flaky tracking, GitHub/GitLab/Jenkins test reports) key a test by its
classname and name, so a scenario must be named the same by `behave features/`, by the
workers of `nslab run -j N` (given `FILE:LINE` locations) and by every shard. behave
derives the classname from the path it was given, so `behave features/` said
`dmz.02-edge-firewall` and a worker `features.dmz.02-edge-firewall`; here the name is
always the feature's path below the project's `features/` folder (or below the project,
for a feature kept elsewhere), see `feature_name`.

A worker given some scenarios of a feature still reports the feature's other scenarios,
as skipped: merged naively, a scenario split over two workers showed up once passed and
once skipped (5 scenarios became 9 testcases). `merge` keeps one testcase per scenario,
the one that ran.

>>> feature_name(Path("/p/features/dmz/02-edge.feature"), Path("/p"))
'dmz.02-edge'
>>> feature_name(Path("/p/tests/features/x.feature"), Path("/p"))
'tests.features.x'
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from junitparser import JUnitXml, TestCase, TestSuite

# the names live in junit_names (no junitparser) and are this module's as before
from nslab.report.junit_names import FEATURES as FEATURES
from nslab.report.junit_names import NOT_SELECTED, feature_name


def read(path: Path) -> list[TestSuite]:
    """The test suites of one JUnit file, whether its root is <testsuites> or <testsuite>."""
    xml = JUnitXml.fromfile(str(path))
    return [xml] if isinstance(xml, TestSuite) else list(xml)


def state(case: TestCase) -> str:
    """passed, failed (a failure or an error) or skipped."""
    if case.is_passed:
        return "passed"
    return "skipped" if case.is_skipped else "failed"


def _rank(case: TestCase) -> int:
    """Which of a scenario's testcases from several files is the run's: the one that ran
    (failed or passed) over a real skip (a tag, a missing kernel feature) over a mere
    "not selected" from a worker or shard that was given other scenarios of the feature."""
    s = state(case)
    if s != "skipped":
        return 2
    message = next((r.message or "" for r in case.result), "")
    return 0 if message == NOT_SELECTED else 1


@dataclass
class Merged:
    """Every scenario once, in the order the features list them, and where each came from."""

    suites: dict[str, TestSuite] = field(default_factory=dict)
    cases: dict[tuple[str, str, str, int], tuple[TestCase, str]] = field(default_factory=dict)

    def add(self, suite: TestSuite, source: str) -> None:
        name = str(suite.name)
        if name not in self.suites:
            fresh = TestSuite(name)
            for attr in ("timestamp", "hostname"):
                if suite._elem.get(attr):
                    fresh._elem.set(attr, suite._elem.get(attr))
            self.suites[name] = fresh
        seen: dict[tuple[str, str], int] = {}
        for case in suite:
            # the k-th testcase of that name: a feature may repeat a scenario name
            ident = (str(case.classname), str(case.name))
            seen[ident] = seen.get(ident, 0) + 1
            key = (name, ident[0], ident[1], seen[ident])
            if key not in self.cases or _rank(case) > _rank(self.cases[key][0]):
                self.cases[key] = (case, source)

    def rows(self) -> list[tuple[str, str, str, str]]:
        """(feature, scenario, state, source) of every scenario."""
        return [(key[0], str(case.name), state(case), source) for key, (case, source) in self.cases.items()]

    def counts(self) -> dict[str, int]:
        states = [row[2] for row in self.rows()]
        return {s: states.count(s) for s in ("passed", "failed", "skipped")}

    def xml(self) -> JUnitXml:
        """The merged file's content (once: the suites receive the cases)."""
        out = JUnitXml("nslab")
        for (suite_name, *_), (case, _source) in self.cases.items():
            self.suites[suite_name].add_testcase(case)
        for suite in self.suites.values():
            suite.update_statistics()
            suite.time = round(sum(float(c.time or 0) for c in suite), 6)
            out.add_testsuite(suite)
        return out


def merge(dirs: list[Path], out_dir: Path) -> Merged:
    """The JUnit files under `dirs` as one, reports/junit/TESTS-nslab.xml: one testcase per
    scenario, as the serial run writes it (times and hostnames aside)."""
    merged = Merged()
    for d in dirs:
        source = d.parent.name if d.name == "junit" else d.name  # a shard's folder, a worker's
        for path in sorted(d.glob("*.xml")):
            for suite in read(path):
                merged.add(suite, source)
    out_dir.mkdir(parents=True, exist_ok=True)
    for old in out_dir.glob("*.xml"):
        old.unlink()
    merged.xml().write(str(out_dir / "TESTS-nslab.xml"))
    return merged


def durations(junit_dir: Path) -> dict[tuple[str, str], float]:
    """Seconds each scenario that ran took, by (classname, scenario name), from a run's JUnit."""
    found: dict[tuple[str, str], float] = {}
    for path in junit_dir.glob("*.xml"):
        try:
            suites = read(path)
        except Exception:  # a half-written or foreign file: ignore it, weights only
            continue
        for suite in suites:
            for case in suite:
                if state(case) != "skipped":
                    found[(str(case.classname), str(case.name))] = float(case.time or 0)
    return found


def seconds_of(path: str, scenario: str, known: dict[tuple[str, str], float], base_dir: Path) -> float | None:
    """A scenario's seconds in `known` (from `durations`), found by its feature file's path."""
    prefix = feature_name(Path(path), base_dir) + "."
    found = [t for (cls, name), t in known.items() if name == scenario and cls.startswith(prefix)]
    return found[0] if found else None


def project_dir(paths: list[str]) -> Path:
    """The folder behave takes as its base: from the first path up to the first folder
    holding steps/ or environment.py (behave's own walk), else the working folder."""
    start = Path(os.path.abspath(paths[0].split(":")[0] if paths else "."))
    here = start if start.is_dir() else start.parent
    for folder in (here, *here.parents):
        if (folder / "steps").is_dir() or (folder / "environment.py").is_file():
            return folder
    return Path.cwd()
