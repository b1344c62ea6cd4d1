"""Rule coverage (nslab.coverage.counts, nslab.coverage.report) and ruleset mutation's
mutants (nslab.coverage.mutate): which of the user's rules the scenarios' own traffic
matched, by file and line. nslab mutate's runs on the labs: test_mutate_labs.py.

    pc ---- edge ---- web, db       (the dmz story: labs/dmz.toml, labs/dmz-edge.nft)
    a ---- br-nd ---- b             (tests/labs/ndcov.toml: b's input, no counters, an ND rule)
"""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

from conftest import DATA, ROOT, host_snapshot, needs_netns, run_behave
from support.labs import host, lan_lab, provisioned

from nslab.coverage import counts as coverage
from nslab.coverage import mutate
from nslab.firewall import rulemap
from nslab.runner.shards import balance
from nslab.scenario.session import LabSession

DMZ = ROOT / "labs" / "dmz.toml"
NDCOV = ROOT / "tests" / "labs" / "ndcov.toml"
NSLAB = [sys.executable, "-m", "nslab.cli"]


def nslab(*args: str, cwd: Path = ROOT, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*NSLAB, *args], cwd=cwd, capture_output=True, text=True, timeout=timeout)


# --- pure logic ------------------------------------------------------------------------------


def test_each_rule_is_mapped_to_its_file_line() -> None:
    rules = rulemap.nft_rules((ROOT / "labs" / "dmz-edge.nft").read_text())
    assert [(r.table, r.chain, r.line) for r in rules] == [
        *(("inet edge", "forward", n) for n in range(13, 20)),
        ("ip nat", "prerouting", 26),
        ("ip nat", "postrouting", 30),
    ]
    assert rules[2].text == 'iifname "eth0" oifname "eth1" tcp dport { 443, 5432 } counter accept'
    # commands, `insert` in front, a set over two lines, a one-line block
    text = (
        "add table inet t\nadd rule inet t c tcp dport 1 accept\ninsert rule inet t c udp dport 2 drop\n"
        "table ip u { chain d { type filter hook input priority 0; tcp dport {\n 3,\n 4 } accept; drop } }\n"
    )
    assert [(r.chain, r.line, r.text) for r in rulemap.nft_rules(text)] == [
        ("c", 3, "udp dport 2 drop"),
        ("c", 2, "tcp dport 1 accept"),
        ("d", 4, "tcp dport { 3, 4 } accept"),
        ("d", 6, "drop"),
    ]
    ipt = (
        "*filter\n:INPUT DROP [0:0]\n-A INPUT -p tcp --dport 22 -j ACCEPT\n"
        "-I INPUT 1 -i lo -j ACCEPT\nCOMMIT\n"
    )
    assert [(r.table, r.line, rulemap.rule_words(r)) for r in rulemap.iptables_rules(ipt, v6=True)] == [
        ("ip6 filter", 4, "-i lo -j ACCEPT"),
        ("ip6 filter", 3, "-p tcp --dport 22 -j ACCEPT"),
    ]


def _rule(chain: str, expr: list[dict[str, object]], handle: int, comment: str = "") -> dict[str, object]:
    r: dict[str, object] = {"family": "inet", "table": "t", "chain": chain, "handle": handle, "expr": expr}
    if comment:
        r["comment"] = comment
    return {"rule": r}


def _match(proto: str, field: str, value: object) -> dict[str, object]:
    return {"match": {"op": "==", "left": {"payload": {"protocol": proto, "field": field}}, "right": value}}


def _counter(n: int) -> dict[str, object]:
    return {"counter": {"packets": n, "bytes": n * 60}}


def test_nslabs_counting_rules_go_only_where_needed_and_are_taken_off() -> None:
    chains = [
        {"chain": {"family": "inet", "table": "t", "name": "input", "hook": "input", "type": "filter"}},
        {"chain": {"family": "inet", "table": "t", "name": "forward", "hook": "forward", "type": "filter"}},
    ]
    tcp = _rule("input", [_match("tcp", "dport", 22), {"accept": None}], 1)
    l4 = {"match": {"op": "==", "left": {"meta": {"key": "l4proto"}}, "right": "ipv6-icmp"}}
    icmp6 = _rule("input", [l4, _counter(0), {"accept": None}], 2)
    fwd = _rule("forward", [{"accept": None}], 3)
    commands = coverage.instrument({"nftables": [*chains, tcp, icmp6, fwd]}, {"inet t"})
    made = [
        (next(iter(c)), c[next(iter(c))]["rule"]["handle"], c[next(iter(c))]["rule"]["comment"])
        for c in commands
    ]
    # tcp: a count (no counter of its own), no ND (ND is not tcp); icmpv6: ND only; forward: a count only
    assert made == [("insert", 1, "nslab-count"), ("insert", 2, "nslab-nd"), ("insert", 3, "nslab-count")]
    # a bridge's forward hook carries housekeeping between its ports: ND there too
    bridged = [{"chain": {**chains[1]["chain"], "family": "bridge"}}]
    fwd_b = {"rule": {**fwd["rule"], "family": "bridge"}}  # type: ignore[dict-item]
    assert [
        c["insert"]["rule"]["comment"]
        for c in coverage.instrument({"nftables": [*bridged, fwd_b]}, {"bridge t"})
    ] == [
        "nslab-nd",
        "nslab-count",
    ]
    assert sum(c["insert"]["rule"]["comment"] == "nslab-count" for c in commands) == 2  # the uncounted
    # and read back: the user's counter or nslab's count, less nslab's ND count before it
    listing = {
        "nftables": [
            *chains,
            _rule("input", [_match("tcp", "dport", 22), _counter(5)], 10, "nslab-count"),
            tcp,
            _rule("input", [_match("icmpv6", "type", "x"), _counter(4)], 11, "nslab-nd"),
            _rule("input", [_counter(7), {"accept": None}], 2),
            fwd,
        ]
    }
    assert coverage.counts("nft", json.dumps(listing)) == {
        ("inet t", "input"): [5, 3],
        ("inet t", "forward"): [None],
    }


def test_mutants_of_a_rule_line() -> None:
    got = mutate.line_mutants('  oif "up" ip daddr 10.2.0.10 tcp dport 80 counter accept # web', nft=True)
    assert got == [
        ("accept -> drop", '  oif "up" ip daddr 10.2.0.10 tcp dport 80 counter drop # web'),
        ("port 80 -> 79", '  oif "up" ip daddr 10.2.0.10 tcp dport 79 counter accept # web'),
        ("port 80 -> 81", '  oif "up" ip daddr 10.2.0.10 tcp dport 81 counter accept # web'),
        ("ip daddr 10.2.0.10 negated", '  oif "up" ip daddr != 10.2.0.10 tcp dport 80 counter accept # web'),
        ('oif "up" negated', '  oif != "up" ip daddr 10.2.0.10 tcp dport 80 counter accept # web'),
    ]
    assert mutate.line_mutants("tcp dport 22 reject with tcp reset", nft=True)[0] == (
        "reject -> accept",
        "tcp dport 22 accept",
    )
    ipt = "-A FORWARD -p tcp --dport 443 -j REJECT --reject-with tcp-reset"
    assert [m for m, _ in mutate.line_mutants(ipt, nft=False)] == [
        "REJECT -> ACCEPT",
        "port 443 -> 442",
        "port 443 -> 444",
    ]
    found = mutate.mutants(ROOT / "labs" / "dmz-edge.nft", "nft", "dmz-edge.nft")
    assert (
        len(found) == 47
        and found[0].words() == 'dmz-edge.nft:13: deleting "ct state established,related counter accept"'
    )
    assert balance(found, 3)[1] == found[1::3]  # mutate's shard 2/3: dealt round, every kind in each
    # each mutant changes its one line only
    original = (ROOT / "labs" / "dmz-edge.nft").read_text().splitlines()
    for m in found:
        changed = [n for n, (a, b) in enumerate(zip(original, m.text.splitlines(), strict=True), 1) if a != b]
        assert changed == [m.line], m.words()


@contextlib.contextmanager
def built(lab: Path, **settings: float) -> Iterator[LabSession]:
    """The lab built in a fresh world, its rule coverage counting (as behave's hooks do)."""
    with provisioned(lab, counting=True, **settings) as session:
        yield session


# --- on the real kernel --------------------------------------------------------------------


@needs_netns
def test_a_rule_only_neighbour_discovery_matches_is_reported_0() -> None:
    """b's ND rule counts a's neighbour solicitation (nslab's own ND count proves it went
    through), yet coverage reports it 0; b's rules have no counter and are counted."""
    before = host_snapshot()
    with built(NDCOV) as session:
        session.listen("b", "tcp", 80)
        probe = session.connect("a", "b", "tcp", 80, v6=True)
        assert probe.outcome.outcome == "accepted"
        # nslab's count stands in for the rule's missing counter: "which rule decided" names it
        assert (
            "b: accepted by input rule 3 (tcp dport { 80, 8080 } accept) in table inet b"
            " at ndcov.nft:8 (+1 packets)" in probe.evidence.summary(lost=False)
        )
        raw = json.loads(session.w.run(["nft", "-j", "list", "ruleset"], ns="b").stdout)["nftables"]
        nd = [r["rule"] for r in raw if r.get("rule", {}).get("comment") == "nslab-nd"]
        nd_packets = [e["counter"]["packets"] for r in nd for e in r["expr"] if "counter" in e]
        assert max(nd_packets) >= 1, nd_packets  # a's solicitation crossed b's input
        listing = session.ruleset_text("b")
        assert "nslab-" not in listing and "tcp dport { 80, 8080 } accept" in listing
        session.coverage.end(session.w, "here")
    (found,) = session.coverage.as_json()
    assert (found["file"], found["place"]) == ("ndcov.nft", "b")
    assert [(r["line"], r["hits"]) for r in found["rules"]] == [(6, 1), (7, 0), (8, 1), (10, 0)]
    assert host_snapshot() == before


IP6_LAB = lan_lab(
    "ndcov6",
    "10.9.2.0/24",
    host("a", "10.9.2.10", "2001:db8:92::10", network="n"),
    host("b", "10.9.2.20", "2001:db8:92::20", network="n", firewall='{ ip6tables = "b.rules" }'),
    network="n",
    subnet6="2001:db8:92::/64",
)
IP6_RULES = """*filter
:INPUT DROP [0:0]
:FORWARD DROP [0:0]
:OUTPUT ACCEPT [0:0]
-A INPUT -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT
-A INPUT -p ipv6-icmp -m icmp6 --icmpv6-type 135 -j ACCEPT
-A INPUT -p ipv6-icmp -m icmp6 --icmpv6-type 136 -j ACCEPT
-A INPUT -p tcp --dport 80 -j ACCEPT
-A FORWARD -j ACCEPT
COMMIT
"""


def test_ip6tables_rules_get_nslabs_nd_count_where_nd_could_match() -> None:
    save = (
        "*filter\n:INPUT DROP [0:0]\n"
        + "\n".join(
            f"[0:0] -A {rule}"
            for rule in ("INPUT -p tcp -m tcp --dport 80 -j ACCEPT", "INPUT -j ACCEPT", "FORWARD -j ACCEPT")
        )
        + "\nCOMMIT\n"
    )
    text = coverage.ip6tables_instrument(save, {"ip6 filter"})
    assert text is not None
    ours = [line for line in text.splitlines() if "nslab-nd" in line]
    # only the INPUT rule that matches any protocol: one per housekeeping type (MLD, ND), before it
    assert len(ours) == 9 and ours[0] == (
        "[0:0] -A INPUT -p ipv6-icmp -m icmp6 --icmpv6-type 130 -m comment --comment nslab-nd"
    )
    assert text.splitlines().index(ours[-1]) + 1 == text.splitlines().index("[0:0] -A INPUT -j ACCEPT")
    assert coverage.ip6tables_instrument(save, {"ip6 nat"}) is None
    # read back: the ND counts come off the rule after them, and are no rules of their own
    counted = text.replace(
        "[0:0] -A INPUT -p ipv6-icmp -m icmp6 --icmpv6-type 135",
        "[2:144] -A INPUT -p ipv6-icmp -m icmp6 --icmpv6-type 135",
    )
    counted = counted.replace("[0:0] -A INPUT -j ACCEPT", "[7:500] -A INPUT -j ACCEPT")
    assert coverage.counts("iptables", "@@nslab-v6\n".join(["", counted])) == {
        ("ip6 filter", "INPUT"): [0, 5],
        ("ip6 filter", "FORWARD"): [0],
    }


@needs_netns
def test_an_ip6tables_rule_only_neighbour_discovery_matches_is_reported_0(tmp_path: Path) -> None:
    (tmp_path / "lab.toml").write_text(IP6_LAB)
    (tmp_path / "b.rules").write_text(IP6_RULES)
    with built(tmp_path / "lab.toml") as session:
        session.listen("b", "tcp", 80)
        assert session.connect("a", "b", "tcp", 80, v6=True).outcome.outcome == "accepted"
        raw = session.w.run(["ip6tables-save", "-c"], ns="b").stdout
        nd = [line for line in raw.splitlines() if "nslab-nd" in line and "--icmpv6-type 135" in line]
        assert any(not line.startswith("[0:") for line in nd), raw  # a's solicitation crossed b's INPUT
        assert "nslab-" not in session.ruleset_text("b")
        session.coverage.end(session.w, "here")
    (found,) = session.coverage.as_json()
    # the ACK is ESTABLISHED (line 5); the SYN meets line 8; line 6 is only ND's
    assert [(r["line"], r["hits"]) for r in found["rules"]] == [(5, 1), (6, 0), (7, 0), (8, 1), (9, 0)]


SCRIPT_LAB = lan_lab(
    "scripted",
    "10.9.1.0/24",
    host("a", "10.9.1.10", network="n"),
    host("c", "10.9.1.30", network="n", firewall='{ script = "c.sh" }'),
    network="n",
)


@needs_netns
def test_a_scripts_rules_are_reported_per_chain(tmp_path: Path) -> None:
    from lxml import etree

    from nslab.coverage import report as coverage_report

    (tmp_path / "lab.toml").write_text(SCRIPT_LAB)
    (tmp_path / "c.sh").write_text(
        "iptables -A INPUT -p tcp --dport 80 -j ACCEPT\niptables -A INPUT -p tcp --dport 81 -j DROP\n"
    )
    with built(tmp_path / "lab.toml") as session:
        session.listen("c", "tcp", 80)
        assert session.connect("a", "c", "tcp", 80).outcome.outcome == "accepted"
        session.coverage.end(session.w, "here")
    (found,) = session.coverage.as_json()
    assert (found["file"], found["place"], found["kind"]) == ("c.sh", "c", "script")
    assert [(r["line"], r["rule"], r["hits"]) for r in found["rules"]] == [
        (None, "INPUT rule 1: -p tcp -m tcp --dport 80 -j ACCEPT", 2),  # the SYN and the ACK
        (None, "INPUT rule 2: -p tcp -m tcp --dport 81 -j DROP", 0),
    ]
    assert coverage_report.summary(session.coverage) == [
        "rule coverage: c.sh (c) 1/2 rules (50%); "
        "never matched: INPUT rule 2: -p tcp -m tcp --dport 81 -j DROP"
    ]
    coverage_report.write(session.coverage, tmp_path / "reports")
    xml = etree.parse(str(tmp_path / "reports" / "rule-coverage.xml"))  # no line to annotate
    assert xml.getroot().get("lines-valid") == "0" and not xml.findall(".//class")
    (page,) = [p for p in (tmp_path / "reports" / "rule-coverage").glob("*.html") if p.name != "index.html"]
    assert "INPUT rule 2: -p tcp -m tcp --dport 81 -j DROP" in page.read_text()


@needs_netns
def test_the_dmz_story_reports_its_rule_coverage(tmp_path: Path) -> None:
    from lxml import etree, html

    before = host_snapshot()
    reports = tmp_path / "reports"
    r = run_behave(
        "features/dmz", "-D", f"reports={reports}", "-D", f"html={reports}/index.html", "--no-junit"
    )
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    assert (
        "rule coverage: dmz-edge.nft (edge) 8/9 rules (89%); "
        "never matched: line 14 (ct state invalid counter drop)" in r.stderr
    )
    (found,) = json.loads((reports / "rule-coverage.json").read_text())
    assert (found["file"], found["place"], found["lab"]) == ("dmz-edge.nft", "edge", "labs/dmz.toml")
    hits = {rule["line"]: rule["hits"] for rule in found["rules"]}
    assert sorted(hits) == [13, 14, 15, 16, 17, 18, 19, 26, 30]
    assert hits[14] == 0 and all(hits[n] > 0 for n in hits if n != 14)
    assert "features/dmz/02-edge-firewall.feature:27" in found["scenarios"]  # a dropped port
    # Cobertura: valid against the format's DTD, the ruleset a source, each rule a line
    dtd = etree.DTD(str(DATA / "coverage-04.dtd"))
    xml = etree.parse(str(reports / "rule-coverage.xml"))
    assert dtd.validate(xml), dtd.error_log.filter_from_errors()
    (cls,) = xml.findall(".//class")
    assert cls.get("filename") == "labs/dmz-edge.nft" and cls.get("line-rate") == "0.8889"
    assert {int(x.get("number")): int(x.get("hits")) for x in cls.findall(".//line")} == hits
    # the page: every line of the file, hits beside each rule's; linked from the run's report
    pages = reports / "rule-coverage"
    index = html.parse(str(pages / "index.html")).getroot()
    (link,) = index.xpath("//a/@href")
    page = html.parse(str(pages / link)).getroot()
    rows = {row.get("id"): row for row in page.xpath("//tr")}
    assert len(rows) == len((ROOT / "labs" / "dmz-edge.nft").read_text().splitlines())
    assert rows["L14"].get("class") == "miss" and rows["L14"].xpath("td[2]/text()") == ["0"]
    assert rows["L13"].get("class") == "hit" and rows["L13"].xpath("td[2]/text()") == [str(hits[13])]
    assert rows["L11"].get("class") == "" and not rows["L11"].xpath("td[2]/text()")  # a table line, no rule
    report = html.parse(str(reports / "index.html")).getroot()
    assert "rule-coverage/index.html" in report.xpath("//a/@href")
    assert host_snapshot() == before


@needs_netns
def test_a_minimum_fails_the_run_below_it(tmp_path: Path) -> None:
    args = ("tests/features/coverage", "-D", f"reports={tmp_path}", "-D", "html=", "--no-junit")
    low = run_behave(*args, "-D", "rule_coverage_min=60")
    assert low.returncode == 1 and "2 scenarios passed, 0 failed" in low.stdout
    assert "nslab: rule coverage 50.0% is below the minimum 60% (2 of 4 rules matched" in low.stderr
    assert run_behave(*args, "-D", "rule_coverage_min=50").returncode == 0
    bad = run_behave(*args, "-D", "rule_coverage_min=150")
    assert bad.returncode == 2 and "rule_coverage_min=150 is not a percentage" in bad.stderr


@needs_netns
def test_workers_and_shards_add_up_to_one_runs_coverage(tmp_path: Path) -> None:
    def hits(folder: Path) -> dict[int, int]:
        (found,) = json.loads((folder / "rule-coverage.json").read_text())
        return {r["line"]: r["hits"] for r in found["rules"]}

    whole = nslab("run", "-j", "2", "--reports", str(tmp_path / "whole"), "features/dmz")
    assert whole.returncode == 0 and "rule coverage: dmz-edge.nft (edge) 8/9 rules" in whole.stdout, (
        whole.stdout
    )
    assert "rule coverage" in (tmp_path / "whole" / "index.html").read_text()
    for k in (1, 2):
        r = nslab("run", "-j", "1", "--shard", f"{k}/2", "--reports", str(tmp_path / f"s{k}"), "features/dmz")
        assert r.returncode == 0, r.stdout
    merged = nslab("report", "merge", str(tmp_path / "s1"), str(tmp_path / "s2"), "-o", str(tmp_path / "m"))
    assert merged.returncode == 0, merged.stdout + merged.stderr
    one, two, both = hits(tmp_path / "s1"), hits(tmp_path / "s2"), hits(tmp_path / "m")
    assert both == {n: one[n] + two[n] for n in one}
    assert {n for n, h in both.items() if h} == {n for n, h in hits(tmp_path / "whole").items() if h}
    low = nslab(
        "report",
        "merge",
        str(tmp_path / "s1"),
        str(tmp_path / "s2"),
        "-o",
        str(tmp_path / "m2"),
        "--rule-coverage-min",
        "95",
    )
    assert low.returncode == 1 and "below the minimum 95%" in low.stdout
