"""Shards: a deterministic, balanced share of the scenarios for each runner of a CI matrix.

Every shard computes the same split from the same inputs, whatever ran before on its
machine: the weights come from a timings file kept in the repository
(`nslab run --update-timings` writes it), else every scenario weighs the same; never from
what a previous local run left in reports/. The CI system's matrix is the distributed
engine (no home-made scheduler); `nslab report merge` joins the shards' reports.

>>> parse_shard("2/4")
(2, 4)
"""

from __future__ import annotations

import json
import re
import statistics
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TypeVar

from nslab.errors import NslabError
from nslab.report import junit
from nslab.runner.selection import Location

TIMINGS = "nslab-timings.json"
T = TypeVar("T")


def parse_shard(text: str) -> tuple[int, int]:
    m = re.fullmatch(r"(\d+)/(\d+)", text.strip())
    if m is None:
        raise NslabError(f"{text!r} is not a shard", "write K/N, e.g. --shard 2/4 for the second of four")
    k, n = int(m[1]), int(m[2])
    if n < 1:
        raise NslabError(
            f"{text.strip()!r}: there are no 0 shards", "N is how many shards, 1 or more: e.g. 1/4"
        )
    if not 1 <= k <= n:
        raise NslabError(f"shard {k} of {n} does not exist", f"use K/{n} with 1 <= K <= {n}")
    return k, n


def key(item: Location) -> str:
    return f"{item.path}::{item.name}"


def load_timings(path: Path | None) -> dict[str, float]:
    if path is None or not path.exists():
        return {}
    try:
        data = json.loads(path.read_text())
        return {str(k): float(v) for k, v in data.items()}
    except (ValueError, AttributeError, TypeError) as exc:
        raise NslabError(
            f"{path}: not a timings file: {exc}", "delete it, or write it anew with --update-timings"
        ) from None


def weighed(items: list[Location], timings: dict[str, float]) -> list[Location]:
    """Weights in ms from the timings file (a scenario it does not know weighs the median of
    those it does); without timings every scenario weighs the same."""
    known = [timings[key(i)] for i in items if key(i) in timings]
    default = statistics.median(known) if known else 1.0
    return [Location(i.path, i.line, i.name, max(1, int(timings.get(key(i), default) * 1000))) for i in items]


def balance(items: Sequence[T], n: int, weight: Callable[[T], int] = lambda _: 1) -> list[list[T]]:
    """nslab's one split (a run's workers, a CI matrix's shards, mutate's shards): greedy
    by weight, heaviest first, each item to the lightest share (the first of equal ones),
    ties by place in `items`; each share in the order of `items`. The same inputs give the
    same split on every machine; equal weights deal the items round (item i to share
    i mod n: each of mutate's shards gets every kind of mutant). Empty shares stay.

    >>> balance("abcde", 2)
    [['a', 'c', 'e'], ['b', 'd']]
    """
    shares: list[list[int]] = [[] for _ in range(n)]
    loads = [0] * n
    for i in sorted(range(len(items)), key=lambda i: -weight(items[i])):  # stable: ties by place
        k = loads.index(min(loads))
        shares[k].append(i)
        loads[k] += weight(items[i])
    return [[items[i] for i in sorted(share)] for share in shares]


def split(items: list[Location], n: int) -> list[list[Location]]:
    """Scenarios by weight, in suite order (path, line) whatever order they came in."""
    return balance(sorted(items, key=lambda i: (i.path, i.line)), n, lambda i: i.weight)


def pick(items: list[Location], k: int, n: int, timings: dict[str, float]) -> list[Location]:
    return split(weighed(items, timings), n)[k - 1]


def update_timings(path: Path, items: list[Location], junit_dir: Path) -> int:
    """Write the scenarios' seconds from this run's JUnit into the timings file (merged with
    what it knew); returns how many it holds."""
    seconds = junit.durations(junit_dir)
    timings = load_timings(path)
    base = junit.project_dir([i.path for i in items[:1]])
    for item in items:
        found = junit.seconds_of(item.path, item.name, seconds, base)
        if found is not None:
            timings[key(item)] = round(found, 3)
    path.write_text(json.dumps(dict(sorted(timings.items())), indent=1) + "\n")
    return len(timings)


def merge(dirs: list[Path], out: Path, coverage_min: float | None = None) -> tuple[junit.Merged, bool]:
    """The shards' reports (each `nslab run --reports DIR`) as one: JUnit, the report and
    the rule coverage; with whether the rule coverage is below its minimum."""
    from nslab.coverage import report as coverage_report
    from nslab.report import html as report

    for d in dirs:
        if not (d / "junit").is_dir():
            raise NslabError(f"{d} holds no junit/ folder", "give the folders `nslab run --reports` wrote")
    merged = junit.merge([d / "junit" for d in dirs], out / "junit")
    low = coverage_report.merged([d / "rule-coverage.json" for d in dirs], out, [], coverage_min, print)
    report.merge(
        [d / "index.json" for d in dirs], out / "index.html", coverage_report.link(out / "index.html", out)
    )
    return merged, low
