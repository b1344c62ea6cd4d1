"""IPv6 flows lost because a firewall dropped neighbour discovery (nslab.probe.neighbours):
the host whose rules dropped it is named for flows through a gateway and from the gateway
to its next hop, and such a flow reads the same on every run, however soon the kernel's
address-unreachable answers it. The lab (tests/labs/ndgw.toml) is a new user's office
lab, trimmed, with discovery giving up within a probe's wait: the timing where one run
read "rejected" and the next "dropped"."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import HERE_FEATURES, ROOT, host_snapshot, needs_netns, run_behave
from support.corpus import PATIENT, nslab
from support.labs import provisioned

LAB = ROOT / "tests" / "labs" / "ndgw.toml"
CULPRIT = "neighbour discovery failed: fw: dropped by input policy DROP in table inet fw"
# every IPv6 flow fw's dropping of discovery loses: desk cannot resolve fw, fw cannot
# resolve the internet's router (it drops the adverts) nor desk
THROUGH = [
    ("desk", "the internet", "icmp", "lost"),
    ("desk", "the internet", "tcp/22", "dropped"),
    ("fw", "the internet", "icmp", "lost"),
    ("fw", "the internet", "tcp/22", "dropped"),
    ("fw", "desk", "tcp/22", "dropped"),
]

pytestmark = needs_netns


@pytest.fixture(scope="module")
def rows() -> dict[tuple[str, str, str], dict[str, str]]:
    before = host_snapshot()
    # waits of 1 s: discovery gives up (3 x 50 ms) well within them, so the kernel's
    # address-unreachable came back for these flows, read "rejected" before
    r = nslab("explore", "--lab", str(LAB), "--format", "json", *PATIENT)
    assert r.returncode == 0, r.stderr[-2000:]
    assert host_snapshot() == before
    found = json.loads(r.stdout)
    return {(f["from"], f["to"], f["service"]): f for f in found if f["family"] == "v6"}


def test_flows_through_the_gateway_name_the_host_that_dropped_discovery(
    rows: dict[tuple[str, str, str], dict[str, str]],
) -> None:
    for src, dst, service, _ in THROUGH:
        decided = rows[(src, dst, service)]["decided_by"]
        assert decided.startswith(CULPRIT), (src, dst, service, decided)


def test_a_flow_discovery_lost_reads_as_lost_whatever_the_kernel_answered(
    rows: dict[tuple[str, str, str], dict[str, str]],
) -> None:
    for src, dst, service, outcome in THROUGH:
        row = rows[(src, dst, service)]
        assert row["outcome"] == outcome, (src, dst, service, row)
        assert f"(read as {outcome} however late the kernel's address-unreachable comes" in row["decided_by"]


@pytest.mark.parametrize("rounds", [1, pytest.param(7, marks=pytest.mark.soak)])
def test_a_golden_file_of_discovery_failures_matches_run_after_run(tmp_path: Path, rounds: int) -> None:
    """Recorded once, checked three times a round (three worlds), and the lab diffed
    against itself: the same verdicts every time (the suite: one round, ~25 s; soak: 7)."""
    recorded = nslab("explore", "--lab", str(LAB), "--record", str(tmp_path / "ndgw.reach"))
    assert recorded.returncode == 0, recorded.stderr[-2000:]
    golden = (tmp_path / "ndgw.reach").read_text()
    for src, dst, service, outcome in THROUGH:
        assert f"{src} -> {dst} {service} v6 {outcome}\n" in golden, golden
    feature = str(HERE_FEATURES / "nd-golden.feature")
    args = (feature, "-D", f"lab={LAB}", "-D", f"reports={tmp_path / 'r'}", "-D", "html=", "--no-junit")
    for _ in range(rounds):
        r = run_behave(*args, cwd=tmp_path)
        assert r.returncode == 0, r.stdout[-3000:]
        assert "3 scenarios passed, 0 failed" in r.stdout, r.stdout[-3000:]
        same = nslab("diff", "--lab", str(LAB), "--against", str(LAB))
        assert same.returncode == 0, (same.stdout + same.stderr)[-3000:]


def test_a_scenarios_probe_discovery_lost_is_dropped_however_soon_the_kernel_answers(tmp_path: Path) -> None:
    """fw gives up on desk within the probe's wait: its address-unreachable came back in
    time, and the step read "rejected with host-unreachable"."""
    feature = str(HERE_FEATURES / "nd-scenario.feature")
    args = (feature, "-D", f"lab={LAB}", "-D", f"reports={tmp_path / 'r'}", "-D", "html=", "--no-junit")
    r = run_behave(*args, cwd=tmp_path)
    assert r.returncode == 0, r.stdout[-3000:]
    assert "1 scenario passed, 0 failed" in r.stdout, r.stdout[-3000:]


def test_a_scenarios_probe_through_the_gateway_names_the_neighbour_it_could_not_resolve() -> None:
    """desk -> the internet over IPv6: nothing drops desk's packets (they never leave), the
    counters show only fw's input policy; the note names what desk could not resolve."""
    before = host_snapshot()
    with provisioned(LAB) as session:
        conn = session.connect("desk", "the internet", "tcp", 22, v6=True)
        assert conn.outcome.outcome == "dropped", conn.why()
        assert "neighbour discovery failed: desk got no answer for 2001:db8:10::1" in conn.why(), conn.why()
        out = session.connect("fw", "the internet", "tcp", 22, v6=True)
        assert out.outcome.outcome == "dropped", out.why()
        assert "neighbour discovery failed: fw got no answer for 2001:db8:f::2" in out.why(), out.why()
        ping = session.ping("desk", "the internet", count=1, v6=True)
        assert ping.lost
        assert "neighbour discovery failed: desk got no answer for 2001:db8:10::1" in ping.why(), ping.why()
    assert host_snapshot() == before
