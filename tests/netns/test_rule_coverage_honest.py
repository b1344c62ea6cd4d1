"""Rule coverage counts the user's packets only, and never shows a green it did not
measure (nslab.coverage.counts, nslab.firewall.instrument, nslab.coverage.report):

- the golden-file step's exploration of the whole lab is nslab's traffic, not the
  scenario's: it covers no rule (nor does its tracer's loopback ping cover `iif lo`);
- the kernel's IPv6 housekeeping (MLD reports, router solicitations, DAD) covers no rule;
- a rule with a map counts the packets whose lookup found an element, per element;
- a rule like `meta l4proto { icmp, ipv6-icmp } accept` without a counter is counted
  (nslab's counting rules once failed to load for it: nothing was counted);
- a ruleset nslab cannot count is "not measured" and fails a minimum, never 0/0 = 100%.

    pc ---- br-lan ---- web          (nslab init's project, its web.nft rewritten)
    a ---- br-n ---- b               (a lab of the test's own)
"""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from conftest import DATA, host_snapshot, needs_netns, run_behave
from support.labs import host, lan_lab
from test_rule_coverage import built

from nslab.coverage import mutate
from nslab.coverage import report as coverage_report
from nslab.coverage.counts import Coverage, FileCoverage, RuleHits
from nslab.errors import LabError
from nslab.firewall import instrument
from nslab.lab import load_lab

NSLAB = [sys.executable, "-m", "nslab.cli"]


def project(tmp_path: Path, web_nft: str, feature: str) -> Path:
    """nslab init's project with web's ruleset and one feature of the test's own."""
    proj = tmp_path / "proj"
    done = subprocess.run([*NSLAB, "init", str(proj)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    (proj / "labs" / "web.nft").write_text(web_nft)
    (proj / "features" / "example.feature").unlink()
    (proj / "features" / "test.feature").write_text(feature)
    return proj


def file_coverage(reports: Path) -> dict[str, Any]:
    (found,) = json.loads((reports / "rule-coverage.json").read_text())
    return found


WEB_LO = """table inet web {
  chain input {
    type filter hook input priority filter; policy drop;
    iif lo accept
    ct state established,related counter accept
    meta l4proto ipv6-icmp counter accept
    tcp dport 80 counter accept
  }
}
"""
GOLDEN = """Feature: the whole lab as recorded
  Scenario: every flow as recorded
    Given the lab is fully provisioned
    Then the lab's reachability matches "lab.reach"
"""


@needs_netns
def test_the_golden_steps_exploration_covers_no_rule(tmp_path: Path) -> None:
    """The step probes every flow of the lab (and pings web's loopback to mark its tracer
    ready): nslab's traffic. The scenario itself sends nothing, so no rule is covered."""
    before = host_snapshot()
    proj = project(tmp_path, WEB_LO, GOLDEN)
    recorded = subprocess.run(
        [*NSLAB, "explore", "--lab", "labs/lab.toml", "--record", "features/lab.reach"],
        cwd=proj, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert recorded.returncode == 0, recorded.stderr
    assert "web tcp/80 v4 accepted" in (proj / "features" / "lab.reach").read_text()
    run = run_behave("features/", "--no-junit", "-D", "html=", cwd=proj)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-2000:]
    found = file_coverage(proj / "reports")
    assert [(r["line"], r["hits"]) for r in found["rules"]] == [(4, 0), (5, 0), (6, 0), (7, 0)]
    assert found["scenarios"] == [] and found["measured"] is True
    assert "rule coverage: web.nft (web) 0/4 rules (0%)" in run.stderr
    # ... yet the step tells a wrong rule: its scenario is one nslab mutate runs, and it
    # kills the mutant that deletes the rule no scenario covers. That mutant alone runs, as
    # `nslab mutate` runs it (nslab.coverage.mutate's Mutator, the project's settings): all
    # of web.nft's mutants, each exploring the whole lab, took 158 s of a worker at load 22
    assert found["explored_by"] == ["features/test.feature:2"]
    lab = proj / "labs" / "lab.toml"
    (deleted,) = [
        m for m in mutate.of_lab(load_lab(lab), lab) if m.mutation == 'deleting "tcp dport 80 counter accept"'
    ]
    assert (deleted.name, deleted.line) == ("web.nft", 7)
    with contextlib.chdir(proj):
        mutator = mutate.Mutator(lab, ["features"], jobs=2)
        try:
            (result,) = mutator.run([deleted])
        finally:
            mutator.close()
    assert (result.status, result.why) == ("killed", "features/test.feature:2"), result
    assert host_snapshot() == before


LAB = lan_lab(
    "honest",
    "10.9.4.0/24",
    host("a", "10.9.4.10", "2001:db8:94::10", network="n"),
    host("b", "10.9.4.20", "2001:db8:94::20", network="n", firewall="{ FIREWALL }"),
    network="n",
    subnet6="2001:db8:94::/64",
)
IP6_RULES = """*filter
:INPUT DROP [0:0]
:FORWARD DROP [0:0]
:OUTPUT DROP [0:0]
-A INPUT -p ipv6-icmp -j ACCEPT
-A INPUT -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT
-A OUTPUT -p ipv6-icmp -j ACCEPT
-A OUTPUT -j ACCEPT
COMMIT
"""


# a machine shared with other test runs answers a first SYN in more than the default
# 0.25 s at times: a probe that should be accepted then read "dropped". Under 1 s, so a
# dropped SYN is not sent again (the counts stay one packet a probe).
PATIENT = {"probe_wait": 0.9, "ping_wait": 1.0}


def lab(tmp_path: Path, firewall: str, name: str, text: str) -> Path:
    (tmp_path / name).write_text(text)
    path = tmp_path / "lab.toml"
    path.write_text(LAB.replace("FIREWALL", firewall))
    return path


IP6_SCRIPT = "".join(
    f"ip6tables -P {line.split()[0][1:]} {line.split()[1]}\n"
    if line.startswith(":")
    else f"ip6tables {line}\n"
    for line in IP6_RULES.splitlines()
    if line.startswith((":", "-A"))
)


@needs_netns
@pytest.mark.parametrize("kind", ["ip6tables", "script"])
def test_a_scenario_without_ipv6_credits_no_ip6tables_rule(tmp_path: Path, kind: str) -> None:
    """b's addresses come up as the lab is built; the kernel then reports its multicast
    groups (MLD) and solicits routers for seconds after: housekeeping, not the scenario's.
    The same rules made by a script."""
    text = IP6_RULES if kind == "ip6tables" else IP6_SCRIPT
    path = lab(tmp_path, f'{kind} = "b.rules"', "b.rules", text)
    with built(path, **PATIENT) as session:
        session.listen("b", "tcp", 80)
        assert session.connect("a", "b", "tcp", 80).outcome.outcome == "accepted"
        time.sleep(3)  # the kernel's delayed reports and solicitations come meanwhile
        raw = session.w.run(["ip6tables-save", "-c"], ns="b").stdout
        session.coverage.end(session.w, "v4 only")
    (found,) = session.coverage.as_json()
    assert [r["hits"] for r in found["rules"]] == [0, 0, 0, 0], raw
    assert found["scenarios"] == [] and "note" not in found


NAT_MAP = """table ip nat {
  chain prerouting {
    type nat hook prerouting priority dstnat; policy accept;
    dnat to tcp dport map { 80 : 10.9.4.20, 8080 : 10.9.4.20 }
  }
}
table inet filter {
  chain input {
    type filter hook input priority filter; policy drop;
    ct state established,related accept
    tcp dport vmap { 80 : accept, 22 : drop, 443 : accept }
  }
}
"""


@needs_netns
def test_a_map_counts_only_the_lookups_that_found_an_element(tmp_path: Path) -> None:
    """Probes to 80 (in both maps) and 22 (in the verdict map only): the DNAT map's rule
    is reached by both SYNs, yet only 80's found an element; 8080 and 443 none."""
    before = host_snapshot()
    path = lab(tmp_path, 'nft = "b.nft"', "b.nft", NAT_MAP)
    with built(path, **PATIENT) as session:
        session.listen("b", "tcp", 80)
        assert session.connect("a", "b", "tcp", 80).outcome.outcome == "accepted"
        assert session.connect("a", "b", "tcp", 22).outcome.outcome == "dropped"
        session.coverage.end(session.w, "maps")
    (found,) = session.coverage.as_json()
    dnat, established, vmap = found["rules"]
    assert (dnat["line"], dnat["hits"]) == (4, 1)
    assert dnat["elements"] == [{"element": "80", "hits": 1}, {"element": "8080", "hits": 0}]
    assert (vmap["line"], vmap["hits"]) == (11, 2)  # 80's SYN and 22's SYN (its retries: probe_wait)
    # in nft's order (it keeps a set sorted)
    assert [(e["element"], bool(e["hits"])) for e in vmap["elements"]] == [
        ("22", True),
        ("80", True),
        ("443", False),
    ]
    assert "elements" not in established
    summary = coverage_report.summary(session.coverage)
    assert summary == [
        "rule coverage: b.nft (b) 3/3 rules (100%), 3/5 elements; elements never matched: "
        "line 4 { 8080 }, line 11 { 443 }"
    ]
    # the page: each element under its rule's line, with its hits
    from lxml import html

    coverage_report.write(session.coverage, tmp_path / "reports")
    (page,) = [p for p in (tmp_path / "reports" / "rule-coverage").glob("*.html") if p.name != "index.html"]
    rows = [
        (r.get("class"), r.xpath("string(td[2])"), r.xpath("string(td[3])").strip())
        for r in html.parse(str(page)).xpath("//tr")
    ]
    at = rows.index(("hit", "1", "dnat to tcp dport map { 80 : 10.9.4.20, 8080 : 10.9.4.20 }"))
    assert rows[at + 1 : at + 3] == [("hit", "1", "element 80"), ("miss", "0", "element 8080")]
    xml = (tmp_path / "reports" / "rule-coverage.xml").read_text()
    assert '<line number="4" hits="1" branch="true" condition-coverage="50% (1/2)"' in xml
    from lxml import etree

    dtd = etree.DTD(str(DATA / "coverage-04.dtd"))
    assert dtd.validate(etree.parse(str(tmp_path / "reports" / "rule-coverage.xml"))), dtd.error_log
    assert host_snapshot() == before


SNAT_MAP = """table ip nat {
  chain postrouting {
    type nat hook postrouting priority srcnat; policy accept;
    snat to ip saddr map { 10.9.4.99 : 10.9.4.20 }
  }
}
"""


@needs_netns
def test_an_snat_map_keyed_on_an_address_that_never_sends_counts_0(tmp_path: Path) -> None:
    """b's ping to a reaches the rule (its first packet crosses postrouting's NAT), and
    its lookup finds nothing: b sends from 10.9.4.20, never from 10.9.4.99."""
    path = lab(tmp_path, 'nft = "b.nft"', "b.nft", SNAT_MAP)
    with built(path, **PATIENT) as session:
        assert session.ping("b", "a", count=1).result.received == 1
        session.coverage.end(session.w, "b pings a")
    (found,) = session.coverage.as_json()
    (rule,) = found["rules"]
    assert (rule["line"], rule["hits"], rule["elements"]) == (4, 0, [{"element": "10.9.4.99", "hits": 0}])
    assert found["scenarios"] == []


ICMP_BOTH = """table inet b {
  chain input {
    type filter hook input priority filter; policy drop;
    ct state established,related accept
    meta l4proto { icmp, ipv6-icmp } accept
    tcp dport 443 accept
  }
}
"""


@needs_netns
def test_a_rule_for_both_icmps_without_counters_is_counted(tmp_path: Path) -> None:
    """nft refused nslab's ND counting rule for it ("conflicting protocols specified:
    icmp vs. icmpv6"), and with it every counting rule: no rule of the file was counted."""
    path = lab(tmp_path, 'nft = "b.nft"', "b.nft", ICMP_BOTH)
    with built(path, **PATIENT) as session:
        ping = session.ping("a", "b", count=2)
        assert ping.result.received == 2, ping
        session.coverage.end(session.w, "ping")
    (found,) = session.coverage.as_json()
    # the first echo request is new; the second is of the same ping: established
    assert [(r["line"], r["hits"]) for r in found["rules"]] == [(4, 1), (5, 1), (6, 0)]
    assert found["measured"] is True and "note" not in found


ICMP6_VMAP = """table inet b {
  chain input {
    type filter hook input priority filter; policy drop;
    icmpv6 type vmap { nd-neighbor-solicit : accept, nd-neighbor-advert : accept, echo-request : accept }
  }
}
"""


@needs_netns
def test_housekeeping_found_in_a_map_counts_for_no_element(tmp_path: Path) -> None:
    """a asks for b's link-layer address before its pings: b's input finds that
    solicitation in the map, yet it is the kernel's, not the scenario's."""
    path = lab(tmp_path, 'nft = "b.nft"', "b.nft", ICMP6_VMAP)
    with built(path, **PATIENT) as session:
        ping = session.ping("a", "b", count=2, v6=True)
        assert ping.result.received == 2, ping
        raw = json.loads(session.w.run(["nft", "-j", "list", "ruleset"], ns="b").stdout)["nftables"]
        session.coverage.end(session.w, "ping6")
    solicited = [
        e["counter"]["packets"]
        for item in raw
        if item.get("rule", {}).get("comment", "").endswith("nd-neighbor-solicit")
        for e in item["rule"]["expr"]
        if "counter" in e
    ]
    assert min(solicited) >= 1, raw  # a's solicitation was found in the map
    (found,) = session.coverage.as_json()
    (rule,) = found["rules"]
    assert rule["hits"] == 2
    assert {e["element"]: e["hits"] for e in rule["elements"]} == {
        "nd-neighbor-solicit": 0,
        "nd-neighbor-advert": 0,
        "echo-request": 2,
    }


@needs_netns
def test_a_rule_nft_refuses_a_counting_rule_for_costs_that_rule_alone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No rule of nftables' examples makes nft refuse a counting rule now; one is made
    here by spoiling the counting rule planned for line 6 (its key unknown to nft). The
    batch fails, so nslab loads rule by rule: line 6 is named, the others counted."""
    real = instrument.plan

    def spoiled(listing: dict[str, object], tables: set[str], loop: bool = False) -> list[instrument.Group]:
        groups = real(listing, tables, loop)
        for g in groups:
            if g.position == 3:
                g.commands[-1]["insert"]["rule"]["expr"].insert(
                    0, {"match": {"op": "==", "left": {"meta": {"key": "nosuch"}}, "right": 1}}
                )
        return groups

    monkeypatch.setattr(instrument, "plan", spoiled)
    loads: list[int] = []  # each `nft -j -f` of counting rules: how many rules
    real_nft = Coverage._nft

    def counted(world: object, place: object, commands: list[object]) -> bool:
        loads.append(len(commands))
        return real_nft(world, place, commands)  # type: ignore[arg-type]

    monkeypatch.setattr(Coverage, "_nft", staticmethod(counted))
    path = lab(tmp_path, 'nft = "b.nft"', "b.nft", ICMP_BOTH)
    with built(path, **PATIENT) as session:
        assert session.ping("a", "b", count=1).result.received == 1
        session.coverage.end(session.w, "ping")
        # the batch, then rule by rule: ND and count for lines 4 and 5, a count for 6 (tcp)
        assert loads == [5, 2, 2, 1]
        session.new_world()  # the next scenario's world: line 6 is not tried again
        session.provision()
        assert loads[4:] == [4]
        session.coverage.end(session.w, "nothing")
    (found,) = session.coverage.as_json()
    assert [(r["line"], r["hits"]) for r in found["rules"]] == [(4, 0), (5, 1), (6, None)]
    assert found["note"] == "line 6 not counted: nft does not take a counting rule with its matches"
    assert coverage_report.summary(session.coverage) == [
        "rule coverage: b.nft (b) 1/2 rules (50%); never matched: line 4 "
        "(ct state established,related accept); "
        "line 6 not counted: nft does not take a counting rule with its matches"
    ]


GATED = """table inet b {
  chain input {
    type filter hook input priority filter; policy accept;
    tcp dport 80 quota over 10 mbytes drop
    tcp dport 80 limit rate 100/second counter accept
  }
}
"""


@needs_netns
def test_a_rule_whose_quota_stops_nothing_is_not_counted_as_matched(tmp_path: Path) -> None:
    """a's connection to 80 reaches line 4, whose quota is not over: it matched nothing.
    A counter before the quota would call it hit; nslab says it cannot count it. Line 5's
    own counter comes after its limit: it counts what the limit let by."""
    path = lab(tmp_path, 'nft = "b.nft"', "b.nft", GATED)
    with built(path, **PATIENT) as session:
        session.listen("b", "tcp", 80)
        assert session.connect("a", "b", "tcp", 80).outcome.outcome == "accepted"
        session.coverage.end(session.w, "80")
    (found,) = session.coverage.as_json()
    quota, limit = found["rules"]
    assert (quota["line"], quota["hits"]) == (4, None)
    assert limit["line"] == 5 and limit["hits"] >= 1
    assert found["note"] == (
        "line 4 not counted: its `quota` passes or stops each packet after its matches, and a copy "
        "would keep a budget of its own (a counter after it counts the rule)"
    )


SCRIPT = """nft add table inet c
nft add chain inet c input '{ type filter hook input priority 0; policy drop; }'
nft add rule inet c input ct state established,related accept
nft add rule inet c input meta l4proto '{ icmp, ipv6-icmp }' accept
nft add rule inet c input tcp dport vmap '{ 80 : accept, 8080 : accept }'
"""


@needs_netns
def test_a_scripts_nft_rules_are_counted_as_a_files(tmp_path: Path) -> None:
    """A script's rules have no counters: nslab counts them, takes a's neighbour
    solicitation off the ICMP rule, and counts the map's elements (none was counted)."""
    path = lab(tmp_path, 'script = "c.sh"', "c.sh", SCRIPT)
    path.write_text(
        path.read_text().replace("[[network]]", '[firewall]\nbackend = "nftables"\n[[network]]', 1)
    )
    with built(path, **PATIENT) as session:
        assert session.ping("a", "b", count=1, v6=True).result.received == 1
        session.listen("b", "tcp", 80)
        assert session.connect("a", "b", "tcp", 80).outcome.outcome == "accepted"
        session.coverage.end(session.w, "script")
    (found,) = session.coverage.as_json()
    assert found["kind"] == "script" and "note" not in found
    established, icmp, vmap = found["rules"]
    assert icmp["rule"].startswith("input rule 2 in table inet c: meta l4proto") and icmp["hits"] == 1
    assert established["hits"] >= 1  # the handshake's ACK
    assert (vmap["hits"], vmap["elements"]) == (
        1,
        [{"element": "80", "hits": 1}, {"element": "8080", "hits": 0}],
    )


NUMGEN = """table ip nat {
  chain prerouting {
    type nat hook prerouting priority dstnat; policy accept;
    dnat to numgen inc mod 2 map { 0 : 10.1.0.80, 1 : 10.1.0.80 }
  }
}
"""
PING = """Feature: web answers pings
  Scenario: pc pings web
    Given the lab is fully provisioned
    When pc pings web
    Then 0% of packets are lost
"""


@needs_netns
def test_a_ruleset_nslab_cannot_count_is_not_measured_and_fails_a_minimum(tmp_path: Path) -> None:
    """Which element a `numgen` map's lookup found cannot be told (a counting rule's copy
    of the key draws its own number): the file is not measured, so a minimum fails."""
    proj = project(tmp_path, NUMGEN, PING)
    run = run_behave("features/", "--no-junit", "-D", "html=", "-D", "rule_coverage_min=50", cwd=proj)
    assert run.returncode == 1 and "1 scenario passed, 0 failed" in run.stdout, run.stdout[-3000:]
    why = "line 4 not counted: its map's key is drawn per packet (numgen)"
    assert f"rule coverage: web.nft (web) not measured: {why}" in run.stderr
    gate = f"nslab: rule coverage of web.nft (web) was not measured ({why}), so the minimum 50% cannot"
    assert gate in run.stderr
    found = file_coverage(proj / "reports")
    assert found["measured"] is False and found["rules"][0]["hits"] is None
    xml = (proj / "reports" / "rule-coverage.xml").read_text()
    assert "<class " not in xml and 'line-rate="0"' in xml


EXAMPLES = Path("/usr/share/doc/nftables/examples")  # Debian's nftables package


@needs_netns
@pytest.mark.skipif(not EXAMPLES.is_dir(), reason="no nftables examples on this system")
def test_every_nftables_example_that_loads_is_counted(tmp_path: Path) -> None:
    """nftables' own examples, each as b's ruleset: every rule of each that loads in a
    world is counted (ct_helpers.nft's `ct helper set udp dport map {` was once read as a
    block, its chain then held a rule more than the file gave: none counted)."""
    loaded = []
    for example in sorted(EXAMPLES.glob("*.nft")):
        path = lab(tmp_path, 'nft = "b.nft"', "b.nft", example.read_text())
        try:
            with built(path, **PATIENT) as session:
                session.coverage.end(session.w, example.name)
        except LabError:  # does not load here (an interface eth0, an include, selinux)
            continue
        (found,) = session.coverage.as_json()
        loaded.append(example.name)
        uncounted = [r["line"] for r in found["rules"] if r["hits"] is None]
        assert not uncounted and "note" not in found, (example.name, found)
    assert {"ct_helpers.nft", "nat.nft", "workstation.nft"} <= set(loaded), loaded


# --- the reports, on the record alone ---------------------------------------------------------


def test_not_measured_is_no_percentage_and_fails_any_minimum() -> None:
    cov = Coverage()
    gw = FileCoverage("firewalld.nft", "gw", "lab.toml", [RuleHits(3, "accept", None)], note="why")
    web = FileCoverage("web.nft", "web", "lab.toml", [RuleHits(3, "accept", 4), RuleHits(4, "drop", 0)])
    cov.files = {gw.key: gw, web.key: web}
    assert coverage_report.summary(cov) == [
        "rule coverage: firewalld.nft (gw) not measured: why",
        "rule coverage: web.nft (web) 1/2 rules (50%); never matched: line 4 (drop)",
    ]
    assert coverage_report.below(cov, 0) is None
    assert coverage_report.below(cov, 10) == (
        "nslab: rule coverage of firewalld.nft (gw) was not measured (why), so the minimum 10% cannot be "
        "checked (fix: make its rules countable, or set rule_coverage_min=0)"
    )
    assert [f["measured"] for f in cov.as_json()] == [False, True]
    xml = coverage_report.cobertura(cov)
    assert "firewalld.nft" not in xml and 'filename="lab.toml/web.nft"' not in xml.replace("./", "")
    assert coverage_report.index_page(cov).count("not measured") == 1
