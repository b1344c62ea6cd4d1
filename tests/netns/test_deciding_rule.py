"""Which rule decided, from the packet's own path, in the user's words (tests/labs/decider.toml:
a router whose nft ruleset has a loopback rule first in input, jump and goto chains, a named
counter two rules share, rejecting rules, a DNAT map, an SNAT map and a redirect).

Pure logic on real captured output first (a trace, `nft -j list ruleset`), then the lab
explored and probed in real worlds."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from conftest import DATA, ROOT, host_snapshot, needs_netns
from support.labs import provisioned

from nslab import parse
from nslab.firewall import nft_parse
from nslab.firewall.evidence import Evidence, decisions
from nslab.firewall.iptables_parse import iptables_save as ipt_save
from nslab.probe import trace
from nslab.reach.explore import decided_by

LAB = ROOT / "tests" / "labs" / "decider.toml"
NSLAB = [sys.executable, "-m", "nslab.cli"]
# what explore and a scenario both say for pc -> router tcp/7 (input jumps to services)
SERVICES = (
    "router: accepted by services rule 1 (tcp dport 7 counter accept) in table inet filter at decider.nft:19"
)


# --- pure logic on real captured output ------------------------------------------------------


def test_a_reused_trace_id_starts_a_new_packet() -> None:
    """The kernel's trace id comes from the packet buffer: a freed buffer used again gives
    another packet the same id. A flow keeps only its own rules, and a flow whose buffer a
    reply used before still gets its own (merged by id, the first flow was credited with
    the end mark's `iif "lo" accept` and the second lost its rules)."""
    traces = trace.parse((DATA / "trace-reused-id.txt").read_text())
    by_port = {t.key.sport: t for t in traces if t.key is not None}
    assert sorted(by_port) == [40882, 40884]
    for sport in (40882, 40884):
        rules = [trace.rule_text(e[4]) for e in by_port[sport].events if e[3] == "rule"]
        assert rules == ["tcp dport 7 jump services", "tcp dport 7 counter accept"], (sport, rules)
    # the loopback mark's packet is a trace of its own, no flow's
    marks = [t for t in traces if any('iif "lo" accept' in e[4] for e in t.events)]
    assert len(marks) == 1 and marks[0].key is None


def _snapshot(packets: dict[str, int], table: str = "filter") -> parse.Ruleset:
    """The decider router's real `nft -j list ruleset`, with the counts of a probe set in:
    {chain/N: packets} for rule N's counter, {name: packets} for a named counter."""
    items = json.loads((DATA / "nft-j-decider.json").read_text())["nftables"]
    seen: dict[str, int] = {}
    for item in items:
        for kind in ("table", "chain", "rule", "counter"):
            if kind in item and item[kind].get("table", item[kind].get("name")) == "filter":
                if kind == "table":
                    item[kind]["name"] = table
                else:
                    item[kind]["table"] = table
        if "counter" in item and item["counter"]["name"] in packets:
            item["counter"]["packets"] = packets[item["counter"]["name"]]
        if "rule" in item:
            chain = item["rule"]["chain"]
            seen[chain] = seen.get(chain, 0) + 1
            for e in item["rule"]["expr"]:
                if isinstance(e.get("counter"), dict):
                    e["counter"]["packets"] = packets.get(f"{chain}/{seen[chain]}", 0)
    return nft_parse.nft_json(json.dumps({"nftables": items}))


def test_a_named_counter_two_rules_share_credits_neither() -> None:
    """`counter name "shared"` in forward rules 2 (icmpv6 packet-too-big) and 3 (tcp
    5001): its growth cannot say which matched, so neither is named (both were)."""
    found = decisions({"router": _snapshot({})}, {"router": _snapshot({"shared": 1})})
    assert [d for d in found if d.chain == "forward"] == [], [d.describe() for d in found]


def test_a_jumped_to_chain_decides_in_a_table_of_any_name() -> None:
    """firewalld's zone chains live in `table inet firewalld`: a chain jumped to from a
    filter base chain decides as it does (its rules were never named)."""
    before, after = _snapshot({}, "firewalld"), _snapshot({"services/1": 1}, "firewalld")
    assert [d.describe(counted=False) for d in decisions({"router": before}, {"router": after})] == [
        "router: accepted by services rule 1 (tcp dport 7 accept) in table inet firewalld"
    ]


def test_accept_policies_that_let_a_packet_on_decide_nothing() -> None:
    """A prerouting chain's ACCEPT policy hands the packet on to the next hook; an empty
    chain accepting is no firewall; a place's rule that accepted outranks its policies."""
    text = (
        "*mangle\n:PREROUTING ACCEPT [{n}:60]\n-A PREROUTING -j MARK --set-mark 1\nCOMMIT\n"
        "*filter\n:INPUT ACCEPT [{n}:60]\n:FORWARD ACCEPT [{n}:60]\n:OUTPUT ACCEPT [0:0]\n"
        ":IN_public_allow - [0:0]\n"
        "[0:0] -A FORWARD -j IN_public_allow\n"
        "[{n}:60] -A IN_public_allow -p tcp --dport 22 -j ACCEPT\nCOMMIT\n"
    )
    before, after = ipt_save(text.format(n=0)), ipt_save(text.format(n=1))
    assert [d.describe(counted=False) for d in decisions({"gw": before}, {"gw": after})] == [
        "gw: accepted by IN_public_allow rule 1 (-p tcp --dport 22 -j ACCEPT)"
    ]


def test_nat_rules_are_parsed_as_nft_lists_them() -> None:
    nat = {c.name: [r.spec for r in c.rules] for c in _snapshot({}).tables["ip nat"].chains.values()}
    assert nat == {
        "prerouting": [
            'iifname "eth0" ip daddr 10.92.1.1 dnat ip to tcp dport map { 2222 : 10.92.2.10 . 22 }',
            'iifname "eth0" tcp dport 8080 redirect to :7',
        ],
        "postrouting": ['oifname "eth1" tcp dport 80 snat to ip saddr map { 10.92.1.10 : 10.92.2.100 }'],
    }


# --- in real worlds ------------------------------------------------------------------------------


def _explore() -> dict[tuple[str, str, str, str], dict[str, str]]:
    r = subprocess.run(
        [*NSLAB, "explore", "--lab", str(LAB), "--format", "json"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert r.returncode == 0, r.stderr
    return _first_address(json.loads(r.stdout))


def _first_address(rows: list[dict[str, str]]) -> dict[tuple[str, ...], dict[str, str]]:
    """Each flow to its destination's first address (explore lists every address of a
    place, the first first; `to` is the place, `to_address` which of its addresses)."""
    out: dict[tuple[str, ...], dict[str, str]] = {}
    for x in rows:
        out.setdefault((x["from"], x["to"], x["service"], x["family"]), x)
    return out


@needs_netns
def test_explore_names_the_rule_each_flow_met_in_the_users_words() -> None:
    before = host_snapshot()
    first = _explore()

    def said(*flow: str) -> str:
        return first[flow]["decided_by"]

    # a jumped-to chain, both families (IPv6 read "no rule decided it" while ND failed)
    assert said("pc", "router", "tcp/7", "v4") == SERVICES
    assert said("pc", "router", "tcp/7", "v6") == SERVICES
    # a goto'd chain; the SNAT map as the file writes it, at its line
    web = said("pc", "sshbox", "tcp/80", "v4")
    assert "accepted by from_lan rule 3 (tcp dport { 22, 80 } counter accept)" in web
    assert (
        'translated by postrouting rule 1 (oifname "eth1" tcp dport 80 snat ip to ip saddr map'
        " { 10.92.1.10 : 10.92.2.100 }) in table ip nat at decider.nft:48"
    ) in web
    assert "dnat ip addr . port to tcp dport map { 2222 : 10.92.2.10 . 22 })" in said(
        "pc", "router", "tcp/2222", "v4"
    )
    assert "redirect to :7) in table ip nat at decider.nft:43" in said("pc", "sshbox", "tcp/8080", "v4")
    # where the DNAT map and the redirect sent them (the listener on router:2222 saw nothing)
    assert first[("pc", "router", "tcp/2222", "v4")]["landed_at"] == "sshbox:22"
    assert first[("pc", "sshbox", "tcp/8080", "v4")]["landed_at"] == "router:7"
    assert first[("pc", "sshbox", "tcp/22", "v4")]["landed_at"] is None
    # the rule the named counter's packet matched, not the other one sharing its counter
    assert said("pc", "sshbox", "tcp/5001", "v4") == (
        'router: accepted by forward rule 3 (tcp dport 5001 counter name "shared" accept)'
        " in table inet filter at decider.nft:26"
    )
    assert first[("pc", "sshbox", "tcp/81", "v4")]["outcome"] == "rejected"
    # IPv6 to sshbox dies of the router's dropping sshbox's neighbour discovery: lost,
    # whenever the kernel's address-unreachable came (nslab.probe.neighbours)
    assert said("pc", "sshbox", "icmp", "v6") == (
        "neighbour discovery failed: router: dropped by input rule 6 (counter drop)"
        " in table inet filter at decider.nft:15 (read as lost however late the kernel's"
        " address-unreachable comes: it answers when discovery gives up)"
    )
    # no flow crossed the router's loopback: its first input rule decided none
    assert not [k for k, v in first.items() if 'iif "lo"' in v["decided_by"]]
    assert not [k for k, v in first.items() if "{'" in v["decided_by"]]  # no Python dict
    # the same flows, the same deciders, run after run
    again = _explore()
    assert {k: v["decided_by"] for k, v in again.items() if v["outcome"] == first[k]["outcome"]} == {
        k: v["decided_by"] for k, v in first.items() if v["outcome"] == again[k]["outcome"]
    }
    table = subprocess.run(
        [*NSLAB, "explore", "--lab", str(LAB)], cwd=ROOT, capture_output=True, text=True, timeout=300
    ).stdout
    assert "accepted at sshbox:22 (seen from 10.92.1.10): router: translated by prerouting rule 1" in table
    assert host_snapshot() == before


@needs_netns
def test_a_scenario_names_what_explore_names_and_rejects_stay_rejected() -> None:
    before = host_snapshot()
    with provisioned(LAB) as session:
        # 50 pings in a row to a rejecting router: 50 errors (the 6th went unanswered)
        kinds = [session.ping("pc", "router", count=1).result.error_kind for _ in range(50)]
        assert kinds == [parse.NETWORK_UNREACHABLE] * 50, kinds
        session.listen("router", "tcp", 7)
        conn = session.connect("pc", "router", "tcp", 7)
        assert conn.outcome.outcome == "accepted"
        assert [d.describe(counted=False) for d in conn.evidence.deciding(lost=False)] == [SERVICES]
        # the step `the verdict was decided by "..."` matches the file and line
        assert any("decider.nft:19" in n for d in conn.evidence.decisions for n in d.names())
        # where the DNAT map sent it, as explore says (the router's conntrack entry)
        session.listen("sshbox", "tcp", 22)
        forwarded = session.connect("pc", "router", "tcp", 2222)
        assert forwarded.why().startswith("accepted at sshbox:22; "), forwarded.why()
        session.listen("sshbox", "tcp", 5001)
        shared = session.connect("pc", "sshbox", "tcp", 5001)
        assert shared.outcome.outcome == "accepted"
        assert "packet-too-big" not in shared.evidence.summary(lost=False)
        # a rule a step put in: the chain no longer holds the file's rules, so no file:line is
        # guessed, and the rule reads as nft lists it (as explore's trace names it)
        session.w.run(
            [
                "nft",
                "insert",
                "rule",
                "inet",
                "filter",
                "forward",
                "tcp",
                "dport",
                "5001",
                "counter",
                "accept",
            ],
            ns="router",
            check=True,
        )
        again = session.connect("pc", "sshbox", "tcp", 5001)
        assert [d.describe(counted=False) for d in again.evidence.deciding(lost=False)] == [
            "router: accepted by forward rule 1 (tcp dport 5001 counter accept) in table inet filter"
        ]
    assert host_snapshot() == before


def test_a_loss_to_neighbour_discovery_names_the_rule_that_dropped_it() -> None:
    """With rule coverage on, nslab's own rule counts the neighbour discovery a rule could
    match and takes it off the rule's count. A ping lost because the router dropped the
    discovery read "no firewall rule or policy counted its packets"; it names that rule."""
    text = (
        "*filter\n:INPUT DROP [0:0]\n"
        "[{n}:72] -A INPUT -i eth1 -p ipv6-icmp -m comment --comment nslab-nd\n"
        "[{n}:72] -A INPUT -i eth1 -j DROP\nCOMMIT\n"
    )
    before, after = ipt_save(text.format(n=0)), ipt_save(text.format(n=2))
    ev = Evidence(tuple(decisions({"router": before}, {"router": after})))
    assert ev.summary(lost=True) == (
        "neighbour discovery failed: router: dropped by INPUT rule 1 (-i eth1 -j DROP) (+2 packets)"
    )
    assert ev.deciding(lost=False) == []
    # a drop of the probe's own packets is what decided, not the discovery
    both = text.replace("COMMIT", "[{n}:120] -A INPUT -p tcp -j DROP\nCOMMIT")
    before, after = ipt_save(both.format(n=0)), ipt_save(both.format(n=2))
    ev = Evidence(tuple(decisions({"router": before}, {"router": after})))
    assert [d.describe(counted=False) for d in ev.deciding(lost=True)] == [
        "router: dropped by INPUT rule 2 (-p tcp -j DROP)"
    ]


def test_a_connection_refused_by_a_reset_rule_names_that_rule() -> None:
    """`reject with tcp reset` answers as a closed port does: the probe reads "refused",
    not lost. explore said "refused: no firewall rule or policy decided it" and a step's
    why "no rule or policy accepted its packets (...)"; the reject rule decided it."""
    text = (
        "*filter\n:INPUT DROP [0:0]\n[{n}:52] -A INPUT -p tcp -m tcp --dport 80 -j ACCEPT\n"
        "[{n}:60] -A INPUT -p tcp -m tcp --dport 22 -j REJECT --reject-with tcp-reset\nCOMMIT\n"
    )
    before, after = ipt_save(text.format(n=0)), ipt_save(text.format(n=1))
    ev = Evidence(tuple(decisions({"web": before}, {"web": after})))
    rule = "web: rejected by INPUT rule 2 (-p tcp -m tcp --dport 22 -j REJECT --reject-with tcp-reset)"
    assert ev.summary(lost=False, refused=True) == f"{rule} (+1 packets)"
    assert decided_by(ev.decisions, False, refused=True) == rule
    # an accepted connection is still the accepting rule's, whatever else counted
    accepted = "web: accepted by INPUT rule 1 (-p tcp -m tcp --dport 80 -j ACCEPT)"
    assert decided_by(ev.decisions, False) == accepted


@needs_netns
def test_a_chain_jumped_to_in_a_table_of_any_name_decides_in_explore(tmp_path: Path) -> None:
    """firewalld's rules live in `table inet firewalld`, its zone's rules in chains the
    base chains jump to: the trace names them (the verdict named the base chain's rule)."""
    (tmp_path / "decider.toml").write_text(LAB.read_text())
    nft = (LAB.parent / "decider.nft").read_text().replace("table inet filter", "table inet firewalld")
    (tmp_path / "decider.nft").write_text(nft)
    r = subprocess.run(
        [*NSLAB, "explore", "--lab", str(tmp_path / "decider.toml"), "--format", "json"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert r.returncode == 0, r.stderr
    rows = _first_address(json.loads(r.stdout))
    assert rows[("pc", "router", "tcp/7", "v4")]["decided_by"] == SERVICES.replace(
        "inet filter", "inet firewalld"
    )
    assert rows[("pc", "sshbox", "tcp/22", "v4")]["decided_by"] == (
        "router: accepted by from_lan rule 3 (tcp dport { 22, 80 } counter accept) in table inet firewalld"
        " at decider.nft:34"
    )
