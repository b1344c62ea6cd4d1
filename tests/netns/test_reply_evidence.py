"""A flow whose answer is dropped on its way back is named by that drop (tests/labs/reply-drop.toml:
gw's input chain, policy drop, lets in answers from the LAN only). nslab's evidence looked at
the flow's own packets only: with `ct state established,related accept` gone from a gateway's
input, `gw connects to mail on tcp port 22` failed with "why: dropped; no firewall rule or
policy counted its packets" and `nslab diff` said "accepted (no firewall rule or policy
decided it) -> dropped (no firewall rule or policy decided it)", where the kernel's input
policy had dropped mail's SYN-ACK. nftables' trace now follows an answer's first packet (a
SYN-ACK, a reset, an echo reply) too.

Pure logic on a real captured trace first, then the lab explored and probed in real worlds."""

from __future__ import annotations

import json
import subprocess
import sys

from conftest import DATA, ROOT, host_snapshot, needs_netns

from nslab.config import Settings
from nslab.firewall.evidence import Decision, Evidence, tally
from nslab.probe import trace
from nslab.scenario.session import LabSession

LAB = ROOT / "tests" / "labs" / "reply-drop.toml"
REPLY_DROPPED = "its reply: gw: dropped by input policy DROP in table inet gw"
REPLY_LET_IN = (
    'its reply: gw: accepted by input rule 1 (iifname "eth0" ct state established,related counter accept)'
    " in table inet gw at reply-drop.nft:6"
)


# --- pure logic on real captured output ------------------------------------------------------


def test_a_syn_ack_in_the_trace_is_the_answer_of_its_flow() -> None:
    """Captured on reply-drop.toml: gw's SYN to mail:22 (source port 48470) and mail's
    SYN-ACKs, which nft 1.0.6 writes `tcp flags == 0x12`, dropped by gw's input policy;
    the SYN-ACKs to 48454 answer an earlier connection, no flow of this batch."""
    traces = trace.parse((DATA / "trace-reply-dropped.txt").read_text())
    flow = trace.Key("tcp", 48470, 0, "10.40.0.1", "10.40.0.25", 22)
    answers = [t for t in traces if t.key is not None and t.key.reply]
    assert {t.key.asked.sport for t in answers if t.key is not None} == {48454, 48470}
    assert all(t.key is not None and t.key.sport == 22 for t in answers)
    found = trace.answers_to([flow], traces, {})
    assert found, "no answer of the flow was found in the trace"
    mine = [traces[n] for n in found]
    assert all(t.key is not None and t.key.asked == flow for t in mine)
    # gw's own chains: the input policy dropped each (nslab's trace table only marked them)
    met = [(e[1], e[2], e[3], e[4].strip()) for t in mine for e in t.events if e[1] == "gw"]
    assert met and set(met) == {("gw", "input", "policy", "drop")}, met


def test_a_hairpin_answer_is_found_by_where_the_dnat_sent_its_flow() -> None:
    """srv2 (10.2.0.20) -> r:1000, DNAT'd to srv1 10.2.0.10:1234, which answers srv2 from
    its own address: found by where the flow landed, and only there (a flow that landed
    elsewhere, or one whose source port differs, is not its)."""
    flows = [
        trace.Key("tcp", 40300, 0, "10.2.0.20", "10.2.0.1", 1000),
        trace.Key("tcp", 40302, 0, "10.2.0.20", "10.2.0.1", 2000),
    ]
    landed = [("10.2.0.10", 1234), ("10.2.0.20", 2345)]
    answer = trace.Trace(trace.Key("tcp", 1234, 0, "10.2.0.10", "10.2.0.20", 40300, reply=True))
    stranger = trace.Trace(trace.Key("tcp", 1234, 0, "10.2.0.10", "10.2.0.20", 40999, reply=True))
    assert trace.answers_to(flows, [answer, stranger], {}, landed) == {0: 0}
    assert trace.answers_to(flows, [answer], {}) == {}  # not knowing where it landed: nobody's


def test_what_dropped_the_answer_decides_where_nothing_dropped_the_flow() -> None:
    policy = Decision("gw", "inet gw", "input", None, "DROP", "", 1, reply=True)
    forwarded = Decision("gw", "inet gw", "forward", 2, "ACCEPT", 'iifname "eth0" counter accept', 1, 2)
    evidence = Evidence((forwarded, policy))
    assert evidence.deciding(lost=True) == [policy]
    assert evidence.summary(lost=True) == f"{REPLY_DROPPED} (+1 packets)"
    # the flow's own drop comes first: its answer never was
    own = Decision("gw", "inet gw", "forward", None, "DROP", "", 1)
    assert Evidence((own, policy)).deciding(lost=True) == [own]
    # a flow let through names its own rule; its answer's only where nothing else decided
    assert Evidence((forwarded, replace_reply(policy, "ACCEPT"))).deciding(lost=False) == [forwarded]
    assert Evidence((replace_reply(policy, "ACCEPT"),)).deciding(lost=False) == [
        replace_reply(policy, "ACCEPT")
    ]


def replace_reply(d: Decision, target: str) -> Decision:
    from dataclasses import replace

    return replace(d, target=target)


def test_a_traced_decision_counts_the_packets_it_decided() -> None:
    """A ping's 3 echo requests, each traced to the same drop policy, read "+1 packets"."""
    found: list[Decision] = []
    for _ in range(3):
        tally(found, Decision("gw", "inet gw", "input", None, "DROP", "", 1))
    assert [d.packets for d in found] == [3]


# --- the lab, explored and probed --------------------------------------------------------------


@needs_netns
def test_an_answer_dropped_on_its_way_back_is_named_by_explore_and_a_scenario() -> None:
    before = host_snapshot()
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "nslab.cli",
            "explore",
            "--lab",
            str(LAB),
            "--ports",
            "tcp/22",
            "--format",
            "json",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
    )
    assert r.returncode == 0, r.stderr
    rows = {(x["from"], x["to"], x["service"]): x for x in json.loads(r.stdout) if x["family"] == "v4"}
    assert (rows["gw", "mail", "tcp/22"]["outcome"], rows["gw", "mail", "tcp/22"]["decided_by"]) == (
        "dropped",
        REPLY_DROPPED,
    )
    assert (rows["gw", "mail", "icmp"]["outcome"], rows["gw", "mail", "icmp"]["decided_by"]) == (
        "lost",
        REPLY_DROPPED,
    )
    # the answers the LAN sends gw are let in by the rule the file writes for them
    assert (rows["gw", "desk", "tcp/22"]["outcome"], rows["gw", "desk", "tcp/22"]["decided_by"]) == (
        "accepted",
        REPLY_LET_IN,
    )
    # a flow whose own packets a rule decided is named by that rule, as before
    assert (
        rows["mail", "desk", "tcp/22"]["decided_by"] == "gw: dropped by forward policy DROP in table inet gw"
    )
    session = LabSession.open(Settings(lab=str(LAB)))
    try:
        session.use_lab(None)
        session.new_world()
        session.provision()
        session.listen("mail", "tcp", 22)
        conn = session.connect("gw", "mail", "tcp", 22)
        assert conn.outcome.outcome == "dropped", conn.why()
        assert conn.why().startswith(f"dropped; {REPLY_DROPPED} (+"), conn.why()
        assert [d.describe(counted=False) for d in conn.evidence.deciding(lost=True)] == [REPLY_DROPPED]
        # a closed port's reset, dropped the same way
        closed = session.connect("gw", "mail", "tcp", 23)
        assert closed.why().startswith(f"dropped; {REPLY_DROPPED} (+"), closed.why()
        # a closed UDP port's answer is an ICMP error, which the trace does not follow:
        # gw's input policy dropped it, and nslab says it cannot tell (it said "no
        # firewall rule or policy counted its packets")
        udp = session.connect("gw", "mail", "udp", 5000)
        assert udp.why() == (
            "no answer; no rule counted its packets; nft keeps no counter for a chain's policy, so nslab"
            " cannot say whether the drop policy of gw: input in table inet gw or gw: forward in table"
            " inet gw dropped them"
        ), udp.why()
        # mail's 3 echo requests, each dropped by gw's input policy: +3, not +1
        ping = session.ping("mail", "gw", count=3)
        assert ping.result.received == 0, ping.why()
        assert "gw: dropped by input policy DROP in table inet gw (+3 packets)" in ping.why(), ping.why()
        # gw's own ping to mail: its echo replies are what gw's input policy dropped
        back = session.ping("gw", "mail", count=1)
        assert back.lost and REPLY_DROPPED in back.why(), back.why()
    finally:
        session.close()
    assert host_snapshot() == before
