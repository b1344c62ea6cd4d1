"""The simulated internet's record of pings holds both families: after a ping over IPv6,
"the internet saw no pings from the uplink" fails (it passed before: the record and the
place were IPv4 only, a false verdict)."""

from __future__ import annotations

from pathlib import Path

from conftest import HERE_FEATURES, host_snapshot, needs_netns, run_feature


@needs_netns
def test_pings_over_ipv6_are_on_the_record_and_a_wrong_negative_fails(tmp_path: Path) -> None:
    before = host_snapshot()
    r = run_feature(HERE_FEATURES / "internet-record.feature", tmp_path)
    out = r.stdout
    assert "3 scenarios passed, 1 failed, 0 skipped" in out, out[-3000:]
    failed = out[out.index("WRONG ON PURPOSE") :]
    assert "ASSERT FAILED: the internet saw pings from 2001:db8:f::1" in failed, failed[:2000]
    assert host_snapshot() == before
