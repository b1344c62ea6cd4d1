"""nslab explore and diff do not give false confidence: found on real rulesets (issue 26: a
port-forward added to a DNAT map, 1:1 NAT, a DMZ host let out over IPv6), and honest by
construction (seeded mutations of the dmz story's edge ruleset each change exactly the flows
worked out by hand; a lab diffed against itself changes nothing, run after run)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import ROOT, host_snapshot, needs_netns
from support.dmz import DMZ, dmz_copy, nslab

from nslab.lab import load_lab
from nslab.reach import flows
from nslab.reach.flows import Flow

# --- false confidence, found on real rulesets (issue 26) -------------------------------------------

# The DMZ's port-forward as a map, the forward chain accepting whatever was DNAT'd (as in
# Debian's nftables examples): opening ssh on web to the world is one map element.
FWD_MAP = (
    ('iifname "uplink0" tcp dport 80 counter dnat to 10.2.0.10:80',
     'iifname "uplink0" counter dnat to tcp dport map { 80 : 10.2.0.10 }'),
    ('iifname "uplink0" oifname "eth1" ip daddr 10.2.0.10 tcp dport 80 ct status dnat counter accept',
     'iifname "uplink0" oifname "eth1" ct status dnat counter accept'),
)  # fmt: skip


# a loaded CI machine (2 cores, many runs) answers late: these tests compare two worlds flow
# by flow, so they wait longer for what was dropped (once a batch, not once a flow)
PATIENT = ("-D", "probe_wait=1", "-D", "ping_wait=1")


def _rules(*pairs: tuple[str, str]) -> Callable[[str], str]:
    def change(text: str) -> str:
        for old, new in pairs:
            assert old in text, old
            text = text.replace(old, new)
        return text

    return change


@needs_netns
def test_a_port_forward_added_to_a_dnat_map_is_a_changed_internet_flow(tmp_path: Path) -> None:
    """`22 : 10.2.0.10` added to the map (ssh on web opened to the world): diff said "no flow
    changed" and exited 0, for no flow went to the uplink's address and 22 (in the map only)
    was no port of the lab. Now the internet's flow to the uplink on 22 reaches web."""
    before = host_snapshot()
    base = dmz_copy(tmp_path / "base", _rules(*FWD_MAP)((ROOT / "labs" / "dmz-edge.nft").read_text()))
    ssh = ("{ 80 : 10.2.0.10 }", "{ 80 : 10.2.0.10, 22 : 10.2.0.10 }")
    mine = dmz_copy(tmp_path / "mine", _rules(*FWD_MAP, ssh)((ROOT / "labs" / "dmz-edge.nft").read_text()))
    r = nslab("diff", "--lab", str(mine), "--against", str(base), "--format", "json", *PATIENT)
    assert r.returncode == 1, r.stdout + r.stderr
    changed = json.loads(r.stdout)
    assert [(c["from"], c["to"], c["to_address"], c["service"], c["family"]) for c in changed] == [
        ("the internet", "edge", "198.51.100.1", "tcp/22", "v4")
    ], r.stdout
    (c,) = changed
    # before: the edge's own listener took it (no input chain); after: DNAT'd to web, accepted
    assert (c["before"]["outcome"], c["before"]["reached"]) == ("accepted", None), c
    assert (c["after"]["outcome"], c["after"]["reached"]) == ("accepted", "web"), c
    assert "edge: translated by prerouting rule 1 (" in c["after"]["decided_by"], c
    text = nslab("diff", "--lab", str(mine), "--against", str(base), *PATIENT)
    assert text.returncode == 1 and (
        "  the internet -> edge@198.51.100.1 tcp/22 v4: accepted (no firewall rule or policy decided it) "
        "-> accepted at web:22 (edge: translated by prerouting rule 1 (" in text.stdout
    ), text.stdout
    assert host_snapshot() == before


def test_public_addresses_a_ruleset_dnats_are_the_hosts(tmp_path: Path) -> None:
    lab = dmz_copy(tmp_path, _rules((
        "    iifname \"uplink0\" tcp dport 80 counter dnat to 10.2.0.10:80",
        "    iifname \"uplink0\" ip daddr 192.0.2.80 counter dnat to 10.2.0.20\n"
        "    ip daddr != 192.0.2.81 dnat to 10.2.0.20\n    ip daddr 192.0.2.0/24 dnat to 10.2.0.20\n"
        "    ip daddr 10.9.0.9 dnat to 10.2.0.20  # a private address: not the internet's way in",
    ))((ROOT / "labs" / "dmz-edge.nft").read_text()))  # fmt: skip
    dmz = load_lab(lab)
    assert flows.dnat_addresses(dmz) == {"edge": ["192.0.2.80"]}
    assert Flow("the internet", "edge", "tcp", 5432, False, "192.0.2.80") in flows.derive(dmz)
    iptables = tmp_path / "fw.rules"
    iptables.write_text(
        "*nat\n-A PREROUTING -d 198.51.100.80/32 -p tcp -j DNAT --to-destination 10.2.0.10\nCOMMIT\n"
    )
    lab.write_text(
        lab.read_text().replace('firewall = { nft = "dmz-edge.nft" }', 'firewall = { iptables = "fw.rules" }')
    )
    assert flows.dnat_addresses(load_lab(lab)) == {"edge": ["198.51.100.80"]}


@needs_netns
def test_a_public_address_dnatd_one_to_one_is_the_internets_way_in(tmp_path: Path) -> None:
    """1:1 NAT: the edge DNATs a public address no interface has to db; the internet routes
    it to the uplink (as an ISP routes a customer's block), and db's 5432 is open to it."""
    first = 'iifname "uplink0" counter dnat to'
    one = (first, f'iifname "uplink0" ip daddr 192.0.2.80 counter dnat to 10.2.0.20\n    {first}')
    mine = dmz_copy(tmp_path, _rules(*FWD_MAP, one)((ROOT / "labs" / "dmz-edge.nft").read_text()))
    r = nslab("explore", "--lab", str(mine), "--format", "json", *PATIENT)
    assert r.returncode == 0, r.stderr
    rows = {(x["from"], x["to_address"], x["service"]): x for x in json.loads(r.stdout)}
    db = rows[("the internet", "192.0.2.80", "tcp/5432")]
    assert (db["outcome"], db["reached"], db["seen_from"]) == ("accepted", "db", "198.51.100.2"), db
    assert "dnat to 10.2.0.20" in db["decided_by"], db


V6_OUT = (
    "    counter drop\n  }",
    '    iifname "eth1" oifname "uplink0" meta nfproto ipv6 counter accept\n    counter drop\n  }',
)


@needs_netns
def test_a_dmz_host_let_out_over_ipv6_is_a_changed_flow(tmp_path: Path) -> None:
    """The DMZ let out over IPv6 (no NAT66): the internet had no route back to the lab's
    IPv6 prefixes, so the replies were lost either way and diff showed nothing. The real
    internet routes to global prefixes: now web's and db's flows out over IPv6 change."""
    mine = dmz_copy(tmp_path, _rules(V6_OUT)((ROOT / "labs" / "dmz-edge.nft").read_text()))
    r = nslab("diff", "--lab", str(mine), "--against", str(DMZ), "--format", "json", *PATIENT)
    assert r.returncode == 1, r.stdout + r.stderr
    changed = json.loads(r.stdout)
    got = sorted((c["from"], c["to"], c["service"], c["family"], c["after"]["outcome"]) for c in changed)
    assert got == sorted(
        (src, "the internet", svc, "v6", "replies" if svc == "icmp" else "accepted")
        for src in ("db", "web") for svc in ("icmp", "tcp/80", "tcp/443", "tcp/5432")
    ), r.stdout  # fmt: skip
    assert all(c["before"]["outcome"] in ("dropped", "lost") for c in changed), r.stdout
    # not masqueraded: the internet saw web's own address
    web = next(c for c in changed if (c["from"], c["service"]) == ("web", "tcp/443"))
    assert web["after"]["seen_from"] == "2001:db8:2::10", web


# --- honest by construction ----------------------------------------------------------------------

RULES = [
    "ct state established,related counter accept",
    "ct state invalid counter drop",
    'iifname "eth0" oifname "eth1" tcp dport { 443, 5432 } counter accept',
    'iifname "eth0" oifname "uplink0" counter accept',
    'iifname "uplink0" oifname "eth1" ip daddr 10.2.0.10 tcp dport 80 ct status dnat counter accept',
    'iifname "eth0" meta l4proto { icmp, ipv6-icmp } counter accept',
    "counter drop",
]


def _swap(text: str, a: int, b: int) -> str:
    """Rules a and b (1-based, as the forward chain numbers them) change places."""
    first, second = RULES[a - 1], RULES[b - 1]
    return text.replace(first, "@@A@@").replace(second, first).replace("@@A@@", second)


PC_TO = [(dst, svc, fam) for dst in ("db", "web") for svc in ("tcp/443", "tcp/5432") for fam in ("v4", "v6")]
INTERNET_V4 = [("the internet", svc, "v4") for svc in ("icmp", "tcp/80", "tcp/443", "tcp/5432")]
INTERNET_V6 = [("the internet", svc, "v6") for svc in ("icmp", "tcp/80", "tcp/443", "tcp/5432")]
# the internet's way in: the port-forward of 80 on the edge's uplink address
FORWARD_80 = ("the internet", "198.51.100.1", "tcp/80", "v4")
ICMP_DMZ = [(dst, "icmp", fam) for dst in ("db", "web") for fam in ("v4", "v6")]
# Each seeded mutation of the edge's forward chain, and the flows it must change, worked out
# from the ruleset by hand (the chain's rules are numbered as in RULES):
MUTATIONS = {
    # rule 3 gone: the LAN loses 443 and 5432 to both DMZ hosts, both families
    "delete rule 3": (lambda t: t.replace(RULES[2] + "\n", ""), PC_TO),
    # rule 6 drops: the LAN's pings to the DMZ are lost; its pings out match rule 4 first
    "accept->drop rule 6": (lambda t: t.replace(RULES[5], RULES[5].replace("accept", "drop")), ICMP_DMZ),
    # 5432 -> 5433: 5432 is dropped, 5433 (now a port of the lab) accepted, to both hosts
    "port 5432 -> 5433": (
        lambda t: t.replace("{ 443, 5432 }", "{ 443, 5433 }"),
        [(d, s, f) for d in ("db", "web") for s in ("tcp/5432", "tcp/5433") for f in ("v4", "v6")],
    ),
    # the final drop moves to 4th: rules 4-6 are never reached; going out (both families:
    # the internet routes back to the lab's global IPv6 prefixes) and pinging the DMZ stop,
    # and so does the internet's port-forward of 80 (rule 5)
    "swap rules 4 and 7": (lambda t: _swap(t, 4, 7), INTERNET_V4 + INTERNET_V6 + ICMP_DMZ, [FORWARD_80]),
    # no masquerade: the internet cannot answer the LAN's private IPv4 address
    "no masquerade": (lambda t: t.replace('oifname "uplink0" counter masquerade', ""), INTERNET_V4),
}


@needs_netns
@pytest.mark.parametrize("mutation", sorted(MUTATIONS))
def test_a_seeded_mutation_of_the_edge_ruleset_changes_exactly_the_flows_it_decides(
    tmp_path: Path, mutation: str
) -> None:
    change, want, *other = MUTATIONS[mutation]
    nft = (ROOT / "labs" / "dmz-edge.nft").read_text()
    assert change(nft) != nft, "the mutation must change the ruleset"
    mine = dmz_copy(tmp_path, change(nft))
    r = nslab("diff", "--lab", str(mine), "--against", str(DMZ), "--format", "json")
    assert r.returncode == 1, r.stderr
    got = sorted((c["to"], c["service"], c["family"]) for c in json.loads(r.stdout) if c["from"] == "pc")
    others = [
        (c["from"], c["to_address"], c["service"], c["family"])
        for c in json.loads(r.stdout)
        if c["from"] != "pc"
    ]
    assert got == sorted(want) and others == (other[0] if other else []), r.stdout


@needs_netns
@pytest.mark.parametrize("runs", [3, pytest.param(20, marks=pytest.mark.soak)])
def test_a_lab_diffed_against_itself_changes_nothing(runs: int) -> None:
    """Flaky probes are a bug to find, not to retry away: 0 changed flows, run after run.
    The flakes it found changed 2 to 27 flows a run under load, so the suite's 3 runs catch
    them; the 20 runs (`pytest -m soak`, 2 minutes of a worker) hunt a rarer one."""
    for run in range(runs):
        r = nslab("diff", "--lab", str(DMZ), "--against", str(DMZ), "--format", "json")
        assert (r.returncode, r.stdout) == (0, "[]\n"), f"run {run + 1}: {r.stdout[:2000]}{r.stderr}"
