"""The suite's workers: tests that share a module fixture (a lab built once, a wheel, a
mutate run) go to one worker together, so the fixture is made once (tests/conftest.py marks
them; .ci/test runs --dist loadgroup)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from conftest import ROOT, TESTS


def test_a_module_fixture_is_made_once_whatever_the_workers(tmp_path: Path) -> None:
    """pytest 9.2 silently undid xdist's grouping (pytest-xdist#1386): each of the three
    workers made the fixture again, and the suite's wheel, explore and mutate fixtures were
    built two or three times."""
    log = tmp_path / "made"
    probe = TESTS / "unit" / "grouping_probe.py"
    others = TESTS / "unit" / "test_parse.py"  # work for the other workers to take
    r = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-n", "3", "--dist", "loadgroup",
         "--no-loadscope-reorder", str(probe), str(others)],
        cwd=ROOT, env={**os.environ, "NSLAB_GROUPING_LOG": str(log)},
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert r.returncode == 0, r.stdout[-2000:]
    assert len(log.read_text().splitlines()) == 1, log.read_text()
