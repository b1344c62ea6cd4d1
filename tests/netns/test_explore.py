"""nslab explore and nslab diff: a lab's flows derived from the lab, measured on the real
kernel, kept as a golden file, and two rulesets compared. Expectations are the dmz story's
ruleset (labs/dmz-edge.nft) read by hand, not what nslab printed."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import HERE_FEATURES, ROOT, host_snapshot, needs_netns, run_behave

from nslab.errors import LabError
from nslab.lab import load_lab
from nslab.reach import flows
from nslab.reach import table as reach
from nslab.reach.explore import ABSENT, Measured, Verdict, match_peers
from nslab.reach.flows import Flow

NSLAB = [sys.executable, "-m", "nslab.cli"]
DMZ = ROOT / "labs" / "dmz.toml"


def nslab(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*NSLAB, *args], cwd=cwd, capture_output=True, text=True, timeout=300)


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


# --- on the real kernel --------------------------------------------------------------------------


def _by_flow(rows: list[dict[str, str]]) -> dict[tuple[str, str, str, str], dict[str, str]]:
    """Rows by (from, to, service, family); a flow to another address of the destination
    than its first is keyed `to@address`."""
    firsts: dict[tuple[str, str], str] = {}
    for r in rows:
        firsts.setdefault((r["to"], r["family"]), r["to_address"])
    out = {}
    for r in rows:
        to = r["to"] if firsts[(r["to"], r["family"])] == r["to_address"] else f"{r['to']}@{r['to_address']}"
        out[(r["from"], to, r["service"], r["family"])] = r
    return out


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


@needs_netns
def test_explore_measures_every_flow_of_the_dmz_lab(tmp_path: Path) -> None:
    before = host_snapshot()
    r = nslab("explore", "--lab", str(DMZ), "--format", "json", "--record", str(tmp_path / "dmz.reach"))
    assert r.returncode == 0, r.stderr
    assert "probing 204 flows" in r.stderr  # progress on the long wait
    rows = json.loads(r.stdout)
    # every flow, then the internet's flows to the lab's private addresses, once, unprobed
    assert len(rows) == 205 and rows[-1] == {
        "from": "the internet", "to": "private addresses", "service": "any", "family": "v4",
        "outcome": "unroutable", "decided_by": "the internet routes no private range", "seen_from": None,
        "reached": None, "from_address": None, "to_address": None, "landed_at": None,
        "to_addresses": ["edge 10.1.0.1", "edge 10.2.0.1", "pc 10.1.0.10", "web 10.2.0.10", "db 10.2.0.20"],
    }  # fmt: skip
    rows = rows[:-1]
    assert set(rows[0]) >= {"from", "to", "service", "family", "outcome", "decided_by", "seen_from"}
    assert set(rows[0]) - {"from", "to", "service", "family", "outcome", "decided_by", "seen_from"} == {
        "from_address",
        "to_address",
        "reached",
        "landed_at",
    }
    flow = _by_flow(rows)
    # the port-forward of 80 on the uplink: DNAT'd to web, which took it (README, dmz story)
    fwd = flow[("the internet", "edge@198.51.100.1", "tcp/80", "v4")]
    assert (fwd["outcome"], fwd["reached"], fwd["from_address"]) == ("accepted", "web", "198.51.100.2"), fwd
    assert "dnat to 10.2.0.10:80" in fwd["decided_by"] and "forward rule 5 (" in fwd["decided_by"], fwd
    # 443 on the uplink: no port-forward, the edge's own (it has no input chain)
    own = flow[("the internet", "edge@198.51.100.1", "tcp/443", "v4")]
    assert (own["outcome"], own["reached"]) == ("accepted", None), own
    # every address of a host: edge's DMZ side, from the LAN (its own input, no forwarding)
    dmz_side = flow[("pc", "edge@10.2.0.1", "tcp/5432", "v4")]
    assert (dmz_side["outcome"], dmz_side["from_address"], dmz_side["to_address"]) == (
        "accepted",
        "10.1.0.10",
        "10.2.0.1",
    ), dmz_side
    # the LAN reaches the DMZ on 443 and 5432 only (rule 3), both families
    for family in ("v4", "v6"):
        ok = flow[("pc", "db", "tcp/5432", family)]
        assert ok["outcome"] == "accepted" and "forward rule 3 (" in ok["decided_by"], ok
        assert "established" not in ok["decided_by"]  # the replies' rule did not decide it
        no = flow[("pc", "web", "tcp/80", family)]
        assert no["outcome"] == "dropped" and (
            "dropped by forward rule 7 (counter drop) in table inet edge at dmz-edge.nft:19"
            in no["decided_by"]
        ), no
    # the DMZ never starts a connection to the LAN
    assert flow[("web", "pc", "tcp/443", "v4")]["outcome"] == "dropped"
    # out by the uplink, masqueraded: the internet sees the edge's uplink address
    out = flow[("pc", "the internet", "tcp/443", "v4")]
    assert out["outcome"] == "accepted" and out["seen_from"] == "198.51.100.1", out
    assert "masquerade" in out["decided_by"]
    ping = flow[("pc", "the internet", "icmp", "v4")]
    assert ping["outcome"] == "replies" and ping["seen_from"] == "198.51.100.1", ping
    # no NAT66, none needed: the internet routes to the lab's global IPv6 prefixes, as the
    # real one does, so IPv6 out gets its answer home, seen from pc itself
    six = flow[("pc", "the internet", "tcp/443", "v6")]
    assert (six["outcome"], six["seen_from"]) == ("accepted", "2001:db8:1::10"), six
    # and the internet reaches pc over IPv6 up to the edge's forward chain, which drops it
    into = flow[("the internet", "pc", "tcp/443", "v6")]
    assert into["outcome"] == "dropped" and "forward rule 7 (counter drop)" in into["decided_by"], into
    # no flow to a private IPv4 address: the internet routes none (the summary row above)
    assert not [k for k in flow if k[0] == "the internet" and k[3] == "v4" and "@" not in k[1]]
    # same bridge, no firewall in the way; the listener saw the sender itself
    same = flow[("web", "db", "tcp/5432", "v4")]
    assert same["outcome"] == "accepted" and same["seen_from"] == "10.2.0.10"
    text = (tmp_path / "dmz.reach").read_text()
    assert "pc -> the internet tcp/443 v4 accepted seen from 198.51.100.1\n" in text
    assert "pc -> db tcp/5432 v6 accepted\n" in text
    assert "the internet -> edge@198.51.100.1 tcp/80 v4 accepted at web\n" in text
    assert "\n# the internet -> 5 private address(es) v4: unroutable " in text
    table = nslab("explore", "--lab", str(DMZ))
    assert table.returncode == 0, table.stderr
    assert (
        "  tcp/80 v4    198.51.100.2 -> 198.51.100.1       accepted at web:80 (seen from 198.51.100.2): "
        in (table.stdout)
    )
    assert table.stdout.count("unroutable") == 1
    assert host_snapshot() == before


@needs_netns
def test_explore_formats_and_bad_input(tmp_path: Path) -> None:
    r = nslab("explore", "--format", "csv", "--ports", "tcp/22")  # the seed lab
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    # the first columns as they were; the addresses and the place reached after them
    assert (
        lines[0]
        == "from,to,service,family,outcome,decided_by,seen_from,reached,from_address,to_address,landed_at"
    )
    assert "red,the internet,icmp,v4,replies," in r.stdout and r.stdout.count("tcp/22") == 12
    # the host's two addresses are two rows; the internet's way in is its uplink address
    assert r.stdout.count("\nred,host,tcp/22,v4,") == 2 and ",10.16.0.2,198.51.100.1," in r.stdout
    assert "\nthe internet,host,tcp/22,v4," in r.stdout and lines[-1].startswith(
        "the internet,private addresses,any,v4,unroutable,the internet routes no private range,"
    )
    assert "red,blue,tcp/22,v4,accepted," in r.stdout
    # the seed's chain NAVY is a user chain of the host's filter table: its rules decide
    # (the trace dropped them, and bridged red -> blue read "no firewall rule ... decided it")
    assert (
        "red,blue,icmp,v4,replies,accepted by NAVY rule 3 (-s 10.16.0.0/24 -d 10.16.0.0/24 -j ACCEPT),"
        in r.stdout
    )
    md = nslab("explore", "--format", "markdown")
    assert md.stdout.startswith("| from | to | service |") and md.returncode == 0
    assert md.stdout.splitlines()[0].endswith(
        "| seen_from | reached | from_address | to_address | landed_at |"
    )
    bad = nslab("explore", "--ports", "sctp/9")
    assert bad.returncode == 2 and bad.stderr.strip().splitlines() == [
        "nslab: 'sctp/9' is not a port (fix: write tcp/PORT or udp/PORT, comma-separated: tcp/22,udp/53)"
    ]


def _dmz_copy(where: Path, rules: str | None = None) -> Path:
    where.mkdir(parents=True, exist_ok=True)
    (where / "dmz.toml").write_text(DMZ.read_text())
    nft = (ROOT / "labs" / "dmz-edge.nft").read_text()
    (where / "dmz-edge.nft").write_text(nft if rules is None else rules(nft) if callable(rules) else rules)
    return where / "dmz.toml"


NO_5432 = ("tcp dport { 443, 5432 } counter accept", "tcp dport 443 counter accept")


@needs_netns
def test_diff_prints_only_the_flows_a_change_changes(tmp_path: Path) -> None:
    before = host_snapshot()
    mine = _dmz_copy(tmp_path / "mine")
    rules = mine.with_name("dmz-edge.nft")
    rules.write_text(rules.read_text().replace(*NO_5432))
    r = nslab("diff", "--lab", str(mine), "--against", str(DMZ), "--format", "json")
    assert r.returncode == 1, r.stderr
    changed = json.loads(r.stdout)
    # deleting 5432 from rule 3: the LAN loses 5432 to both DMZ hosts, both families; only that
    assert sorted((c["from"], c["to"], c["service"], c["family"]) for c in changed) == [
        ("pc", "db", "tcp/5432", "v4"), ("pc", "db", "tcp/5432", "v6"),
        ("pc", "web", "tcp/5432", "v4"), ("pc", "web", "tcp/5432", "v6"),
    ]  # fmt: skip
    one = changed[0]
    assert one["before"]["outcome"] == "accepted" and "forward rule 3 (" in one["before"]["decided_by"]
    assert one["after"] == {
        "outcome": "dropped",
        "decided_by": "edge: dropped by forward rule 7 (counter drop) in table inet edge at dmz-edge.nft:19",
        "seen_from": None,
        "landed_at": None,
        "reached": None,
    }
    text = nslab("diff", "--lab", str(mine), "--against", str(DMZ))
    assert text.returncode == 1 and "4 flow(s) changed" in text.stdout
    assert (
        "pc -> db tcp/5432 v4: accepted" in text.stdout
        and "-> dropped (edge: dropped by forward rule 7" in text.stdout
    )
    same = nslab(
        "diff", "--lab", str(_dmz_copy(tmp_path / "same")), "--against", str(DMZ), "--format", "markdown"
    )
    assert same.returncode == 0 and "no flow changed" in same.stdout, same.stdout + same.stderr
    assert host_snapshot() == before


@needs_netns
def test_diff_against_a_git_revision_reads_the_files_as_they_were(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    lab = _dmz_copy(repo / "labs")
    git = ["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@example.test"]
    subprocess.run([*git, "init", "-q"], check=True)
    subprocess.run([*git, "add", "-A"], check=True)
    subprocess.run([*git, "commit", "-qm", "lab"], check=True)
    rules = lab.with_name("dmz-edge.nft")
    rules.write_text(rules.read_text().replace(*NO_5432))  # the change, not committed
    r = nslab("diff", "--lab", str(lab), "--base", "HEAD", "--format", "markdown")
    assert r.returncode == 1, r.stderr
    assert (
        "**dmz at HEAD -> " in r.stdout
        and "| pc -> db tcp/5432 v4 | **accepted**<br>edge: accepted by forward rule 3 (" in r.stdout
    )
    assert subprocess.run([*git, "status", "--porcelain"], capture_output=True, text=True).stdout.strip() == (
        "M labs/dmz-edge.nft"
    )  # nothing checked out or written in the repository
    bad = nslab("diff", "--lab", str(lab), "--base", "no-such-rev")
    assert bad.returncode == 2 and bad.stderr.strip() == (
        "nslab: unknown git revision 'no-such-rev' (fix: name a branch, tag or commit: --base main)"
    )
    neither = nslab("diff", "--lab", str(lab))
    assert neither.returncode == 2 and "give --base REV (git) or --against OTHER.toml" in neither.stderr


@needs_netns
def test_the_reachability_step_fails_with_only_the_flows_that_changed(tmp_path: Path) -> None:
    recorded = nslab("explore", "--lab", str(DMZ), "--record", str(tmp_path / "dmz.reach"))
    assert recorded.returncode == 0, recorded.stderr
    feature = HERE_FEATURES / "reachability.feature"
    args = (str(feature), "-D", f"reports={tmp_path / 'r'}", "-D", "html=", "--no-junit")
    ok = run_behave(*args, cwd=tmp_path)
    assert ok.returncode == 0, ok.stdout[-3000:]
    golden = tmp_path / "dmz.reach"
    text = golden.read_text()
    text = text.replace("pc -> db tcp/443 v4 accepted\n", "pc -> db tcp/443 v4 dropped\n")
    text = text.replace("web -> pc icmp v6 lost\n", "")  # a flow the file no longer has
    golden.write_text(text + "pc -> gone tcp/22 v4 accepted\n")  # a place the lab no longer has
    bad = run_behave(*args, cwd=tmp_path)
    assert bad.returncode == 1
    assert "3 of 205 flows differ from dmz.reach:" in bad.stdout, bad.stdout[-3000:]
    assert "pc -> db tcp/443 v4: dropped -> accepted (edge: accepted by forward rule 3 (" in bad.stdout
    assert "web -> pc icmp v6: appeared: lost (edge: dropped by forward rule 7 (counter drop)" in bad.stdout
    assert "pc -> gone tcp/22 v4: disappeared (was accepted)" in bad.stdout


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
    base = _dmz_copy(tmp_path / "base", _rules(*FWD_MAP)((ROOT / "labs" / "dmz-edge.nft").read_text()))
    ssh = ("{ 80 : 10.2.0.10 }", "{ 80 : 10.2.0.10, 22 : 10.2.0.10 }")
    mine = _dmz_copy(tmp_path / "mine", _rules(*FWD_MAP, ssh)((ROOT / "labs" / "dmz-edge.nft").read_text()))
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
    lab = _dmz_copy(tmp_path, _rules((
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
    mine = _dmz_copy(tmp_path, _rules(*FWD_MAP, one)((ROOT / "labs" / "dmz-edge.nft").read_text()))
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
    mine = _dmz_copy(tmp_path, _rules(V6_OUT)((ROOT / "labs" / "dmz-edge.nft").read_text()))
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
    mine = _dmz_copy(tmp_path, change(nft))
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


@needs_netns
def test_a_flow_whose_probe_cannot_run_is_an_error_naming_why() -> None:
    from nslab.config import Settings
    from nslab.errors import ProbeError
    from nslab.reach.explore import explore
    from nslab.scenario.session import LabSession

    session = LabSession.open(Settings(lab=str(DMZ)))
    try:
        session.new_world()
        session.provision()
        session.w.run(["ip", "netns", "del", "web"], check=True)  # a step deleted it
        with pytest.raises(
            ProbeError, match=r"flow web -> db icmp v4 did not run: namespace web does not exist"
        ):
            explore(session, [Flow("pc", "db", "icmp"), Flow("web", "db", "icmp")])
    finally:
        session.close()


@needs_netns
def test_explore_and_diff_work_on_a_users_own_lab(tmp_path: Path) -> None:
    """tests/labs/three-nets.toml: three networks, two routers, r2's own nft file."""
    lab = ROOT / "tests" / "labs" / "three-nets.toml"
    r = nslab("explore", "--lab", str(lab), "--format", "json", "--record", str(tmp_path / "three.reach"))
    assert r.returncode == 0, r.stderr
    rows = json.loads(r.stdout)
    assert {("tcp", 23)} == {
        (row["service"][:3], int(row["service"][4:])) for row in rows if "/" in row["service"]
    }
    same = nslab("diff", "--lab", str(lab), "--against", str(lab))
    assert same.returncode == 0 and "no flow changed" in same.stdout
    assert reach.read_record(tmp_path / "three.reach")


@needs_netns
def test_diff_names_a_lab_file_missing_at_the_revision(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    git = ["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@example.test"]
    subprocess.run([*git, "init", "-q"], check=True)
    (repo / "README").write_text("before the lab\n")
    subprocess.run([*git, "add", "-A"], check=True)
    subprocess.run([*git, "commit", "-qm", "first"], check=True)
    lab = _dmz_copy(repo / "labs")
    subprocess.run([*git, "add", "-A"], check=True)
    subprocess.run([*git, "commit", "-qm", "lab"], check=True)
    r = nslab("diff", "--lab", str(lab), "--base", "HEAD~1")
    assert r.returncode == 2 and r.stderr.strip() == (
        "nslab: labs/dmz.toml does not exist at HEAD~1 "
        "(fix: pick a revision that has the lab, or use --against)"
    )


@needs_netns
def test_a_datagram_the_internet_cannot_answer_is_no_answer_not_a_broken_helper(tmp_path: Path) -> None:
    """The internet's UDP listener could not route its echo back to the lab (no NAT66): the
    helper raised ENETUNREACH and every probe of the batch failed. Now: seen, unanswered.
    The LAN's IPv6 prefix is a ULA here: the internet routes back to global prefixes only."""
    from nslab.config import Settings
    from nslab.reach.explore import explore
    from nslab.scenario.session import LabSession

    lab = _dmz_copy(tmp_path)
    lab.write_text(lab.read_text().replace("2001:db8:1::", "fd00:1::"))
    session = LabSession.open(Settings(lab=str(lab)))
    try:
        session.new_world()
        session.provision()
        (v6, v4) = explore(
            session, [Flow("pc", "the internet", "udp", 53, True), Flow("pc", "the internet", "udp", 53)]
        )
    finally:
        session.close()
    assert (v6.verdict.outcome, v4.verdict.outcome) == ("no answer", "answered")
    assert v4.verdict.seen_from == "198.51.100.1"


@needs_netns
def test_an_answer_queued_when_its_probe_times_out_is_read_not_lost() -> None:
    """The helper timed probes out before reading what was ready: under load, the first
    probes of a big batch passed their deadline while the rest were still being sent, and
    their queued answers were never read (every ping of the batch's first namespace "lost",
    a lab diffed against itself changed). A deadline already past (0 s) shows it: the
    answer of a ping to pc's own address or its router is there by the first look."""
    from nslab.config import Settings
    from nslab.scenario.session import LabSession

    session = LabSession.open(Settings(lab=str(DMZ)))
    try:
        session.new_world()
        session.provision()
        at_once = [
            {"ns": "pc", "proto": "icmp", "dst": dst, "port": 0, "timeout": 0.0}
            for dst in ("10.1.0.10", "10.1.0.1")
        ]
        session.prober.probe(at_once, ())  # the first resolves the router's address (ARP)
        results, _ = session.prober.probe(at_once, ())
    finally:
        session.close()
    assert [r["outcome"] for r in results] == ["replies", "replies"], results
