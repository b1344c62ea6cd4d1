"""Parallel runs: the scenarios split over N behave processes, one world per scenario.

behavex was measured first and left aside: it starts a behave run per scenario (or
balances whole features), and on this suite it was slower than one serial run (7.9 s
scenario-wise, 4.1 s feature-wise, against 5.0 s serially on 2 cores). Here each worker
is one long-lived behave process given its share of `FILE:LINE` locations, balanced by
step count; scenarios are independent (a world each), so verdicts match a serial run.
Each worker writes its own report and JUnit files; the JUnit files are merged into
reports/junit/ (nslab.report.junit) and the reports into reports/index.html (nslab.report.html).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from nslab.coverage import report as coverage_report
from nslab.errors import NslabError
from nslab.report import junit
from nslab.runner import shards
from nslab.runner.selection import Location, scenarios


def steps_anchor(paths: list[str], here: Path | None = None) -> list[str]:
    """[the project's steps folder] when a feature lies outside the project, else [].

    behave looks for `steps/` (or environment.py) from its first path's folder upward only,
    so a feature kept elsewhere failed with "ConfigError: No steps directory". Given the
    project's steps folder first, behave finds the project from there and runs the
    feature with the project's steps and hooks; the folder holds no feature, so nothing
    else runs. (`behave steps /elsewhere/x.feature` does the same by hand.)"""
    start = (here or Path.cwd()).resolve()
    root = next((d for d in (start, *start.parents) if (d / "steps").is_dir()), None)
    if root is None:
        return []
    outside = [p for p in paths if not Path(p).resolve().is_relative_to(root)]
    return [str(root / "steps")] if outside else []


def weigh(items: list[Location], durations: dict[tuple[str, str], float]) -> list[Location]:
    """Replace step-count weights by last-run milliseconds where the scenario is known."""
    out = []
    base = junit.project_dir([i.path for i in items[:1]])
    for item in items:
        seconds = junit.seconds_of(item.path, item.name, durations, base)
        weight = int(seconds * 1000) if seconds is not None else item.weight * 30  # ~30 ms a step
        out.append(Location(item.path, item.line, item.name, weight))
    return out


def partition(items: list[Location], jobs: int) -> list[list[Location]]:
    """Greedy balance by weight: heaviest first, each to the lightest worker."""
    bins: list[list[Location]] = [[] for _ in range(max(1, jobs))]
    loads = [0] * len(bins)
    for item in sorted(items, key=lambda i: -i.weight):
        k = loads.index(min(loads))
        bins[k].append(item)
        loads[k] += item.weight
    return [sorted(b, key=lambda i: (i.path, i.line)) for b in bins if b]


@dataclass
class WorkerResult:
    index: int
    rc: int
    output: str
    html: Path
    junit: Path


_SUMMARY = re.compile(r"(\d+) scenarios? passed, (\d+) failed(?:, (\d+) error)?, (\d+) skipped")
_TOOK = re.compile(r"Took (\d+)min ([\d.]+)s")


def run(  # type: ignore[no-untyped-def]
    paths: list[str],
    jobs: int,
    reports: Path,
    extra: list[str],
    echo=print,
    shard: tuple[int, int] | None = None,
    timings: Path | None = None,
    coverage_min: float | None = None,
) -> int:
    """Run the scenarios (or shard K/N of them) in `jobs` behave processes; merge reports;
    0 if all passed."""
    items = scenarios(paths, extra)
    if not items:
        raise NslabError("no scenarios found", "check the feature paths and tags")
    if shard is not None:  # the same share on every machine: timings file or count, never reports/
        total = len(items)
        items = shards.pick(items, *shard, shards.load_timings(timings))
        echo(f"nslab: shard {shard[0]}/{shard[1]}: {len(items)} of {total} scenarios")
        if not items:
            return 0
        work = partition(items, jobs)
    else:
        work = partition(weigh(items, junit.durations(reports / "junit")), jobs)
    anchor = steps_anchor([loc.path for loc in items])
    base = reports / "parallel"
    shutil.rmtree(base, ignore_errors=True)  # an earlier run's pages and JUnit files
    shutil.rmtree(reports / "diagnostics", ignore_errors=True)  # here, not in each worker
    base.mkdir(parents=True, exist_ok=True)
    start = time.monotonic()
    procs = []
    for i, share in enumerate(work):
        junit_dir = base / f"junit-{i}"
        page = base / f"worker-{i}.html"
        argv = [
            sys.executable,
            "-m",
            "behave",
            "-f",
            "progress",
            "--junit-directory",
            str(junit_dir),
            "-D",
            f"html={page}",
            "-D",
            f"reports={reports}",
            *extra,
            *anchor,
            *(loc.arg for loc in share),
        ]
        procs.append(
            (
                i,
                page,
                junit_dir,
                subprocess.Popen(
                    argv,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.STDOUT,
                    text=True,
                    env={**os.environ, "PYTHONUNBUFFERED": "1", "NSLAB_WORKER": str(i)},
                ),
            )
        )
    total = sum(len(w) for w in work)
    echo(f"nslab: {total} scenarios on {len(work)} workers")
    outputs = _collect([proc for *_, proc in procs], total)
    results = []
    for (i, page, junit_dir, proc), out in zip(procs, outputs, strict=True):
        results.append(WorkerResult(i, proc.returncode, out, page, junit_dir))
        m, took = _SUMMARY.search(out), _TOOK.search(out)
        summary = f"{m[1]} passed, {m[2]} failed" if m else f"no summary (rc={proc.returncode})"
        echo(f"  worker {i}: {summary}" + (f" in {int(took[1]) * 60 + float(took[2]):.2f} s" if took else ""))
    merged = junit.merge([r.junit for r in results], reports / "junit")
    low = coverage_report.merged(
        sorted(base.glob("rule-coverage-*.json")), reports, extra, coverage_min, echo
    )
    write_index(results, reports / "index.html")
    counts = merged.counts()
    failed = [r for r in results if r.rc != 0]
    for r in failed:
        echo(f"--- worker {r.index} output ---\n{r.output[-4000:]}")
    echo(
        f"nslab: {counts['passed']} passed, {counts['failed']} failed, {counts['skipped']} skipped"
        f" in {time.monotonic() - start:.2f} s; reports in {reports}/"
    )
    return 1 if failed or low else 0


def _done(text: str) -> int:
    """Scenarios finished so far, from behave's progress formatter: one mark per scenario
    after each feature's path."""
    return sum(
        sum(line.split(".feature", 1)[1].count(c) for c in ".FESU")
        for line in text.splitlines()
        if ".feature" in line
    )


def _collect(procs: list[subprocess.Popen[str]], total: int) -> list[str]:
    """Every worker's output; on a terminal, a live count of finished scenarios meanwhile.
    In a CI log (not a terminal) nothing is printed until the per-worker summary lines."""
    buffers = [[] for _ in procs]  # type: list[list[str]]

    def drain(proc: subprocess.Popen[str], buf: list[str]) -> None:
        assert proc.stdout is not None
        for chunk in iter(lambda: proc.stdout.read(1), ""):  # type: ignore[union-attr]
            buf.append(chunk)

    threads = [
        threading.Thread(target=drain, args=(p, b), daemon=True) for p, b in zip(procs, buffers, strict=True)
    ]
    for t in threads:
        t.start()
    live = sys.stderr.isatty()
    start = time.monotonic()
    while any(t.is_alive() for t in threads):
        if live:
            done = sum(_done("".join(b)) for b in buffers)
            sys.stderr.write(f"\r  {done}/{total} scenarios, {time.monotonic() - start:4.1f} s ")
            sys.stderr.flush()
        for t in threads:
            t.join(0.2)
    if live:
        sys.stderr.write("\r" + " " * 40 + "\r")
    for p in procs:
        p.wait()
    return ["".join(b) for b in buffers]


def write_index(results: list[WorkerResult], path: Path) -> None:
    """One report of every worker's scenarios (nslab.report.html: failures first), linking to
    each worker's page of every step."""
    from nslab.report import html as report

    links = [(f"worker {r.index}", f"{r.html.parent.name}/{r.html.stem}-steps.html") for r in results]
    links += coverage_report.link(path, path.parent)
    report.merge([r.html.with_suffix(".json") for r in results], path, links)
