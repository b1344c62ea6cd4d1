"""Shards of a CI matrix: the same split everywhere, every scenario exactly once; bad
--shard values are one line. (Real shard runs merged to the serial verdicts: in
test_parallel_runs.py, which shares that serial run with the parallel one.)"""

from __future__ import annotations

import subprocess
import sys

import pytest
from conftest import ROOT

from nslab.errors import NslabError
from nslab.runner.selection import Location, scenarios
from nslab.runner.shards import balance, parse_shard, pick, split, weighed

NSLAB = [sys.executable, "-m", "nslab.cli"]


def test_bad_shards_are_one_line() -> None:
    for text, words in (
        ("5/4", "shard 5 of 4 does not exist"),
        ("0/4", "shard 0 of 4"),
        ("1/0", "there are no 0 shards"),
        ("x", "'x' is not a shard"),
    ):
        with pytest.raises(NslabError, match=words):
            parse_shard(text)
        r = subprocess.run([*NSLAB, "run", "--shard", text], capture_output=True, text=True, cwd=ROOT)
        assert r.returncode == 1 and len(r.stderr.strip().splitlines()) == 1 and words in r.stderr, r.stderr


def test_the_split_is_the_same_whatever_came_before_and_covers_everything_once() -> None:
    items = scenarios(["features"])
    by_count = [pick(items, k, 4, {}) for k in range(1, 5)]
    assert sorted(i.arg for share in by_count for i in share) == sorted(i.arg for i in items)
    assert [len(s) for s in by_count] == [len(s) for s in split(weighed(items, {}), 4)]
    assert max(len(s) for s in by_count) - min(len(s) for s in by_count) <= 1  # by count: even
    # timings move the split, deterministically; unknown scenarios weigh the median
    slow = {f"{i.path}::{i.name}": 1.0 for i in items} | {f"{items[0].path}::{items[0].name}": 30.0}
    first = [i.arg for i in pick(items, 1, 4, slow)]
    assert first == [i.arg for i in pick(list(reversed(items)), 1, 4, slow)]
    assert items[0].arg in first and len(first) == 1  # the 30 s scenario fills a shard alone
    assert split([Location("a.feature", 1, "a", 1)], 3)[2] == []  # an empty shard is allowed


def test_one_split_for_workers_shards_and_mutants() -> None:
    """balance is the one split: equal weights are dealt round (mutate's shards, each with
    every kind of mutant), weights go heaviest first to the lightest share (a run's workers
    and a CI matrix's shards), and every share keeps the order it was given."""
    assert balance(list(range(7)), 3) == [[0, 3, 6], [1, 4], [2, 5]]
    heavy = balance(["a", "bb", "cccc", "d"], 2, len)
    assert heavy == [["cccc"], ["a", "bb", "d"]]
    items = [
        Location("b.feature", 1, "x", 5),
        Location("a.feature", 9, "y", 5),
        Location("a.feature", 2, "z", 1),
    ]
    assert split(items, 2) == split(list(reversed(items)), 2)  # suite order, whatever came in
    assert split(items, 2) == [[items[2], items[1]], [items[0]]]
