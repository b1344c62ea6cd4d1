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


@needs_netns
def test_route_and_listener_steps_read_both_families(tmp_path: Path) -> None:
    """`r1's routes include "<an IPv6 route>"` read IPv4 routes only; `saw a tcp connection
    from the uplink` after an IPv6 connection said `peers 2001:db8:f::1, not 198.51.100.1`,
    and `... on port 443 over IPv6` said the port was not a number."""
    for feature in ("routes-both-families.feature", "seen-both-families.feature"):
        r = run_feature(HERE_FEATURES / feature, tmp_path)
        assert r.returncode == 0 and " 0 failed" in r.stdout, r.stdout[-3000:]


@needs_netns
def test_every_family_phrasing_holds_in_both_families(tmp_path: Path) -> None:
    """A table of phrasings x families on a dual-stack routed lab: pings, connections,
    datagrams, conntrack, the listener's record, the deciding rule, names and routes."""
    r = run_feature(HERE_FEATURES / "both-families.feature", tmp_path)
    assert r.returncode == 0 and "24 scenarios passed, 0 failed, 0 skipped" in r.stdout, r.stdout[-3000:]
