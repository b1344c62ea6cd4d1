"""Not a test of nslab: tests/unit/test_workers.py runs these under xdist to see that the
tests sharing a module fixture get one worker (the fixture is made once)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest


@pytest.fixture(scope="module")
def made() -> int:
    with Path(os.environ["NSLAB_GROUPING_LOG"]).open("a") as log:
        log.write(f"made in {os.getpid()}\n")
    return 1


def test_one(made: int) -> None:
    assert made == 1


def test_two(made: int) -> None:
    assert made == 1


def test_three(made: int) -> None:
    assert made == 1


def test_four(made: int) -> None:
    assert made == 1
