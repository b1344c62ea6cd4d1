"""nslab explore's pure parts: a lab's flows derived from the lab (every pair, family and
port its rules name), bad ports and flows as one line, the golden file and how a comparison
names each kind of change, and a reply matched to its flow by address and port. Measured on
the real kernel: tests/netns/test_explore.py."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import ROOT

from nslab.errors import LabError
from nslab.lab import load_lab
from nslab.reach import flows
from nslab.reach import table as reach
from nslab.reach.explore import ABSENT, Measured, Verdict, match_peers
from nslab.reach.flows import Flow

DMZ = ROOT / "labs" / "dmz.toml"


# --- the flow set, from the lab (pure) --------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "kind", "want"),
    [
        ("tcp dport 22 accept", "nft", [("tcp", 22)]),
        ("tcp dport { 443, 5432 } counter accept", "nft", [("tcp", 443), ("tcp", 5432)]),
        ("meta l4proto { tcp, udp } th dport 53 accept", "nft", [("tcp", 53), ("udp", 53)]),
        ("udp dport 1000-1010 drop", "nft", [("udp", 1000), ("udp", 1010)]),
        ("tcp dport ssh accept  # tcp dport 9 in a comment", "nft", [("tcp", 22)]),
        ("set web { type inet_service; elements = { 80, 8080 } }\ntcp dport @web accept", "nft",
         [("tcp", 80), ("tcp", 8080)]),
        ("-A FORWARD -p tcp --dport 80 -j ACCEPT", "iptables", [("tcp", 80)]),
        ("-A FORWARD -p udp -m multiport --dports 53,123:124 -j ACCEPT", "ip6tables",
         [("udp", 53), ("udp", 123), ("udp", 124)]),
        ("-A FORWARD -m multiport --dports 25 -j DROP", "iptables", [("tcp", 25), ("udp", 25)]),
        ("iptables -A FORWARD -p tcp --dport 8443 -j ACCEPT\nnft add rule t c udp dport 69 drop", "script",
         [("tcp", 8443), ("udp", 69)]),
        ("tcp sport 80 accept\nip saddr 10.0.0.1 accept", "nft", []),
        # a port-forward's ports are its map's keys, and the ports it lands on (a listener
        # must be there); an address in the map is no port
        ("dnat ip to tcp dport map { 80 : 10.2.0.10, 8080 : 10.2.0.11 . 8000 }", "nft",
         [("tcp", 80), ("tcp", 8000), ("tcp", 8080)]),
        ('iifname "wan" tcp dport 2222 dnat to 10.2.0.10:22', "nft", [("tcp", 22), ("tcp", 2222)]),
        ("meta l4proto udp dnat ip6 to [2001:db8:2::10]:5353", "nft", [("tcp", 5353), ("udp", 5353)]),
        ("map fwd { type inet_service : ipv4_addr; elements = { 22 : 172.16.2.10 } }\n"
         "dnat ip to tcp dport map @fwd", "nft", [("tcp", 22)]),
        ("udp dport vmap { 53 : accept, 123 : jump ntp }", "nft", [("udp", 53), ("udp", 123)]),
        # where a port-forward lands, however the rule names it: Debian's examples/nat.nft
        # (a port map after the address map, over two lines), a named map, iptables'
        # --to-destination, a redirect; a port in SNAT's or MASQUERADE's --to-ports is no landing
        ("dnat tcp dport map { 1000 : 10.2.0.10, 2000 : 10.2.0.20 } \\\n"
         "    : tcp dport map { 1000 : 1234, 2000 : 2345 }", "nft",
         [("tcp", 1000), ("tcp", 1234), ("tcp", 2000), ("tcp", 2345)]),
        ("map fwd { type inet_service : ipv4_addr . inet_service; elements = { 22 : 10.2.0.10 . 2022 } }\n"
         "dnat ip addr . port to tcp dport map @fwd", "nft", [("tcp", 22), ("tcp", 2022)]),
        ("map pm { type inet_service : inet_service; elements = { 80 : 8080 } }\n"
         "dnat ip to 10.2.0.10 : tcp dport map @pm", "nft", [("tcp", 80), ("tcp", 8080)]),
        ("tcp dport 8080 redirect to :7", "nft", [("tcp", 7), ("tcp", 8080)]),
        ("-A PREROUTING -p tcp --dport 1000 -j DNAT --to-destination 10.2.0.10:1234", "iptables",
         [("tcp", 1000), ("tcp", 1234)]),
        ("-A PREROUTING -p tcp -j DNAT --to-destination [2001:db8:2::10]:8443-8444", "ip6tables",
         [("tcp", 8443)]),
        ("-A PREROUTING -p udp --dport 53 -j REDIRECT --to-ports 5353", "iptables",
         [("udp", 53), ("udp", 5353)]),
        ("-A POSTROUTING -p tcp -j MASQUERADE --to-ports 40000-40100", "iptables", []),
        ("-A PREROUTING -p tcp --dport 2222 -j DNAT --to-destination 10.2.0.10", "iptables", [("tcp", 2222)]),
    ],
)  # fmt: skip
def test_ports_are_read_from_the_rules(text: str, kind: str, want: list[tuple[str, int]]) -> None:
    assert flows.ports_in_text(text, kind) == want


def test_the_flow_set_is_every_pair_family_and_port_of_the_lab() -> None:
    dmz = load_lab(DMZ)
    assert flows.lab_ports(dmz) == [("tcp", 80), ("tcp", 443), ("tcp", 5432)]
    got = flows.derive(dmz)
    # 4 hosts and the internet, all dual-stack; edge has 3 addresses a family (eth0, eth1,
    # the uplink), the others 1: 7 destination addresses a family, each from the 4 other
    # places; 4 services. The internet routes to none of the 5 private IPv4 addresses.
    assert len(got) == ((7 * 4 - 5) + 7 * 4) * 4 and got == sorted(set(got))
    assert Flow("pc", "the internet", "tcp", 5432, True) in got
    # the internet's way in: the edge's uplink address, where the port-forward of 80 is
    assert Flow("the internet", "edge", "tcp", 80, False, "198.51.100.1") in got
    assert Flow("pc", "edge", "icmp", 0, True, "2001:db8:2::1") in got
    assert not [f for f in got if f.src == "the internet" and not f.v6 and f.at != "198.51.100.1"]
    assert [u.words() for u in flows.unroutable(dmz)] == [
        "the internet -> 5 private address(es) v4: unroutable (the internet routes no private range; "
        "only NAT or a public address lets it in): edge 10.1.0.1, edge 10.2.0.1, pc 10.1.0.10, "
        "web 10.2.0.10, db 10.2.0.20"
    ]
    # another lab's flow to an address this lab's edge lacks is not this lab's flow (absent)
    elsewhere = Flow("pc", "edge", "icmp", 0, False, "10.9.0.1")
    assert elsewhere not in flows.wanted(dmz, [elsewhere, Flow("pc", "edge", "icmp", 0, False, "10.2.0.1")])
    seed = flows.derive(load_lab(ROOT / "labs" / "seed.toml"))
    # red, blue, the host (its gateway address, and its uplink's) and the internet; IPv4
    # only; ICMP only; the internet reaches the host's uplink address only
    assert {f.src for f in seed} == {"red", "blue", "host", "the internet"}
    assert [f.words() for f in seed if f.src == "the internet"] == [
        "the internet -> host@198.51.100.1 icmp v4"
    ]
    assert len(seed) == 3 * 2 + 3 * 2 and all(f.proto == "icmp" and not f.v6 for f in seed)
    more = flows.derive(load_lab(ROOT / "labs" / "seed.toml"), flows.parse_ports("tcp/22,udp/53"))
    assert len(more) == 12 * 3


def test_bad_ports_and_flows_are_one_line() -> None:
    with pytest.raises(LabError, match=r"'icmp/3' is not a port \(fix: write tcp/PORT or udp/PORT"):
        flows.parse_ports("tcp/22,icmp/3")
    with pytest.raises(LabError, match="port 70000 is out of range"):
        flows.parse_ports("tcp/70000")
    with pytest.raises(LabError, match="is not a flow"):
        Flow.parse("pc to web")
    assert Flow.parse("pc -> the internet udp/53 v6") == Flow("pc", "the internet", "udp", 53, True)
    to_uplink = Flow("the internet", "edge", "tcp", 22, False, "198.51.100.1")
    assert Flow.parse(to_uplink.words()) == to_uplink and to_uplink.words().endswith(
        "edge@198.51.100.1 tcp/22 v4"
    )
    assert Flow.parse("pc -> edge@2001:db8:2::1 icmp v6").at == "2001:db8:2::1"
    with pytest.raises(LabError, match=r"10.2.0.1 is not a v6 address"):
        Flow.parse("pc -> edge@10.2.0.1 icmp v6")


def test_a_golden_file_round_trips_and_a_comparison_names_each_kind_of_change(tmp_path: Path) -> None:
    own = {"pc": frozenset({"10.1.0.10"}), "web": frozenset({"10.2.0.10"})}
    a = Flow("pc", "web", "tcp", 443)
    b = Flow("pc", "the internet", "icmp")
    c = Flow("web", "pc", "udp", 53)
    measured = [
        Measured(a, Verdict("accepted", "rule 3", "10.1.0.10")),
        Measured(b, Verdict("replies", "masquerade", "198.51.100.1")),
        Measured(c, Verdict("no answer", "rule 7")),
    ]
    golden = tmp_path / "lab.reach"
    golden.write_text(reach.record(measured, own, "t"))
    lines = golden.read_text().splitlines()
    assert lines[1:] == [  # sorted by flow; the NAT'd source kept, the sender's own left out
        "pc -> the internet icmp v4 replies seen from 198.51.100.1",
        "pc -> web tcp/443 v4 accepted",
        "web -> pc udp/53 v4 no answer",
    ]
    back = reach.read_record(golden)
    assert back[c].outcome == "no answer" and back[b].seen_from == "198.51.100.1"
    before = {f: Verdict(r.outcome, "", r.seen_from) for f, r in back.items()}
    d = Flow("web", "pc", "icmp")
    after = {a: Verdict("dropped", "rule 7"), b: Verdict("replies", "", "198.51.100.9"), d: Verdict("lost")}
    changes = {ch.flow: ch for ch in reach.compare(before, after, own)}
    assert set(changes) == {a, b, c, d}
    assert (changes[a].before.outcome, changes[a].after.outcome) == ("accepted", "dropped")
    assert changes[b].after.seen_from == "198.51.100.9"  # same outcome, another NAT'd source
    assert changes[c].after.outcome == ABSENT and changes[d].before.outcome == ABSENT
    # a port-forward's flow: the place that took it is recorded, and a change of it is a change
    fwd = Flow("the internet", "edge", "tcp", 22, False, "198.51.100.1")
    golden.write_text(reach.record([Measured(fwd, Verdict("accepted", "", None, reached="web"))], own, "t"))
    assert golden.read_text().splitlines()[1] == "the internet -> edge@198.51.100.1 tcp/22 v4 accepted at web"
    assert reach.read_record(golden)[fwd].verdict() == Verdict("accepted", "", None, reached="web")
    moved = reach.compare(
        {fwd: Verdict("accepted", "", None)}, {fwd: Verdict("accepted", "", None, reached="web")}, own
    )
    assert [c.words(own) for c in moved] == [f"{fwd.words()}: accepted -> accepted at web"]
    golden.write_text("pc -> web tcp/443 v4\n")
    with pytest.raises(LabError, match=r"lab.reach: line 1: 'pc -> web tcp/443 v4' has no outcome"):
        reach.read_record(golden)


# --- a reply matched to its flow -----------------------------------------------------------------


def test_a_peer_is_matched_by_address_and_port_before_port_alone() -> None:
    # a CI run: pc's and db's flows to edge tcp/80 left from the same port number; pc's
    # flow was "seen from" db's address, and a lab diffed against itself changed
    edge = ("edge", "tcp", 80)
    log = {edge: [("2001:db8:2::20", 40000), ("2001:db8:1::10", 40000), ("203.0.113.10", 40001)]}
    wanted = [
        (edge, "2001:db8:1::10", 40000),  # pc
        (edge, "2001:db8:2::20", 40000),  # db
        None,  # a flow that did not get through
        (edge, "10.2.0.10", 40001),  # masqueraded on the way: its port, another address
        (edge, "10.2.0.20", 40002),  # never seen
    ]
    assert match_peers(wanted, log) == ["2001:db8:1::10", "2001:db8:2::20", None, "203.0.113.10", None]
    # two NAT'd flows with one port each take one peer, never both the same
    twice = [(edge, "10.1.0.10", 40000), (edge, "10.1.0.11", 40000)]
    assert match_peers(twice, log) == ["2001:db8:2::20", "2001:db8:1::10"]
    # a loopback peer with the flow's echo ident (the trace's marker ping) is no NAT'd
    # source: a new user saw "seen from 127.0.0.1" for laptop -> gw icmp
    icmp = ("gw", "icmp", 0)
    pinged = {icmp: [("127.0.0.1", 7), ("192.168.1.20", 8)]}
    assert match_peers([(icmp, "192.168.1.20", 7)], pinged) == [None]


def test_a_flow_whose_landing_moved_is_a_change_though_its_outcome_is_the_same() -> None:
    # a new user's trial: a container's publish went from "9000:80" to
    # ["127.0.0.1:9000:80", "9443:80"]; before, dock's own listener took tcp/9443, after,
    # Docker's DNAT sends it to the container: both "accepted", and the diff said nothing
    own = {"guest": frozenset({"10.1.0.10"}), "dock": frozenset({"10.1.0.20"})}
    flow = Flow("guest", "dock", "tcp", 9443)
    same = Flow("guest", "dock", "tcp", 22)
    before = {flow: Verdict("accepted", "no firewall rule or policy decided it"), same: Verdict("accepted")}
    after = {
        flow: Verdict("accepted", "dock: translated by DOCKER rule 2", landed_at="172.17.0.2:80"),
        same: Verdict("accepted"),
    }
    changes = reach.compare(before, after, own)
    assert [c.flow for c in changes] == [flow]
    assert changes[0].words(own) == (
        "guest -> dock tcp/9443 v4: accepted (no firewall rule or policy decided it) -> "
        "accepted at 172.17.0.2:80 (dock: translated by DOCKER rule 2)"
    )
    assert changes[0].as_json()["after"]["landed_at"] == "172.17.0.2:80"  # type: ignore[index]
    assert reach.compare(after, after, own) == []  # the same landing twice is no change
    # a golden file records no landed_at: its check does not count a landing it cannot know
    assert reach.compare(before, after, own, landed=False) == []
