"""Other tools' tests, said in nslab's words with no raw command: the kernel's netfilter
selftests rpath.sh, nft_nat.sh, conntrack_icmp_related.sh and br_netfilter.sh, containerlab's
IPv6-over-a-bridge report (#2389, from netlab #1669), and the
kinds of checks netlab validate, testinfra and a Molecule verify stage make. Each feature
names the tool whose point it makes."""

from __future__ import annotations

from pathlib import Path

from conftest import HERE_FEATURES, needs_netns, run_behave

PEERS = sorted((HERE_FEATURES / "peers").glob("*.feature")) + [
    HERE_FEATURES / name for name in ("nft-nat.feature", "icmp-related.feature")
]  # rpath.feature, with a refusal on purpose, runs in tests/netns/test_point_to_point.py
RAW = ("I run on the host", ' runs "', "runs:")


def test_no_peer_scenario_needs_a_raw_command() -> None:
    assert len(PEERS) == 7
    for feature in [*PEERS, HERE_FEATURES / "rpath.feature"]:
        text = feature.read_text()
        assert not any(raw in text for raw in RAW), f"{feature.name} runs a raw command"


@needs_netns
def test_the_peer_scenarios_pass(tmp_path: Path) -> None:
    r = run_behave(*map(str, PEERS), "-D", f"reports={tmp_path}", "-D", "html=", "--no-junit")
    assert r.returncode == 0, r.stdout[-3000:]
    assert "7 features passed, 0 failed, 0 skipped" in r.stdout, r.stdout[-1500:]
