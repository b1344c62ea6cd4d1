"""A probe that got no answer in time is asked once more with a patient wait before nslab
says it was lost (nslab.ports.TIMED_OUT): on a loaded runner an answer can come after the
configured wait, and a scenario then read "dropped" where its rule's counter said accepted.
Waits of 10 microseconds make every answer "late"; the scenarios must still pass."""

from __future__ import annotations

from pathlib import Path

from conftest import host_snapshot, needs_netns, run_feature


@needs_netns
def test_late_answers_are_waited_for_before_a_probe_is_called_lost(tmp_path: Path) -> None:
    before = host_snapshot()
    hurried = ("-D", "ping_wait=0.00001", "-D", "probe_wait=0.00001")
    # pings that get replies, connections accepted and refused, drops that stay drops
    for feature in ("features/01-base-lab.feature", "features/08-ports.feature"):
        r = run_feature(feature, tmp_path / Path(feature).stem, *hurried)
        assert r.returncode == 0, r.stdout[-3000:]
        assert " 0 failed" in r.stdout
    assert host_snapshot() == before
