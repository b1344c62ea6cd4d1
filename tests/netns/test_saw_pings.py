"""`NAME saw pings from PLACE` and `NAME saw no pings from PLACE` measure ordinary pings:
every namespace records echo requests before a ping is sent, not from when a step asks."""

from __future__ import annotations

from pathlib import Path

from conftest import HERE_FEATURES, needs_netns, run_feature


@needs_netns
def test_ordinary_pings_are_recorded_where_they_arrive(tmp_path: Path) -> None:
    r = run_feature(HERE_FEATURES / "saw-pings.feature", tmp_path)
    out = r.stdout
    assert r.returncode == 1 and "3 scenarios passed, 1 failed" in out, out[-3000:]
    # the failure is the one on purpose: h1's pings reached h2, and it says from which address
    assert "Failing scenarios:" in out and "saw no pings fails when the pings arrived" in out, out[-3000:]
    assert "h2 saw pings from 10.51.1.10" in out, out[-3000:]
