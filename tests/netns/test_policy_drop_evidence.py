"""A probe a native nft chain's drop policy lost is named as `nslab explore` names it
(tests/labs/policy-drop.toml). nft keeps no counter for a policy: a scenario's `When desk
connects to mail on tcp port 22 / Then the connection is accepted` failed with "why:
dropped; no firewall rule or policy counted its packets" while explore said "fw: dropped by
forward policy DROP in table inet fw". Such a loss is now sent again under nftables' trace."""

from __future__ import annotations

import json
import subprocess
import sys

from conftest import ROOT, host_snapshot, needs_netns
from support.labs import provisioned

LAB = ROOT / "tests" / "labs" / "policy-drop.toml"
FORWARD = "fw: dropped by forward policy DROP in table inet fw"


@needs_netns
def test_a_loss_to_a_drop_policy_names_the_policy_as_explore_does() -> None:
    before = host_snapshot()
    r = subprocess.run(
        [sys.executable, "-m", "nslab.cli", "explore", "--lab", str(LAB), "--format", "json"],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
    )
    assert r.returncode == 0, r.stderr
    rows = json.loads(r.stdout)
    row = next(
        x for x in rows if (x["from"], x["to"], x["service"], x["family"]) == ("desk", "mail", "tcp/22", "v4")
    )
    assert row["decided_by"] == FORWARD, row
    with provisioned(LAB) as session:
        session.listen("mail", "tcp", 22)
        conn = session.connect("desk", "mail", "tcp", 22)
        assert conn.outcome.outcome == "dropped", conn.why()
        assert [d.describe(counted=False) for d in conn.evidence.deciding(lost=True)] == [row["decided_by"]]
        assert conn.why().startswith(f"dropped; {FORWARD} (+1 packets)"), conn.why()
        # the input chain's policy, for a probe to fw itself
        to_fw = session.connect("desk", "fw", "tcp", 80)
        assert to_fw.why().startswith("dropped; fw: dropped by input policy DROP in table inet fw"), (
            to_fw.why()
        )
        # a ping the forward policy drops
        ping = session.ping("desk", "mail", count=1)
        assert ping.lost and FORWARD in ping.why(), ping.why()
        # an answer the rules decide is untouched: counted, not traced
        session.listen("mail", "tcp", 993)
        ok = session.connect("desk", "mail", "tcp", 993)
        assert ok.outcome.outcome == "accepted" and "policy-drop.nft:13" in ok.why(), ok.why()
    assert host_snapshot() == before
