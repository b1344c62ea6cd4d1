"""The mutants nslab mutate makes (nslab.firewall.mutants), and what its report and its
scenario order say (nslab.coverage.mutate), pure: a rule over two lines is deleted whole, a
set or map element and an interface match get mutants of their own. Run in real worlds:
tests/netns/test_mutate.py.

    a 10.41.0.10 ---- br-mut ---- b 10.41.0.20   (tests/labs/mutate.toml, mutate.nft)
"""

from __future__ import annotations

from pathlib import Path

from conftest import ROOT

from nslab.coverage.mutate import Baseline, MutantResult, text_report
from nslab.firewall import mutants
from nslab.lab import load_lab

NFT = ROOT / "tests" / "labs" / "mutate.nft"


# --- making mutants (pure) -------------------------------------------------------------------


def test_a_rule_over_two_lines_is_one_rule_deleted_whole() -> None:
    found = mutants.mutants(NFT, "nft", "mutate.nft", ["eth0"])
    lines = NFT.read_text().splitlines()
    (deleted,) = [m for m in found if m.mutation == 'deleting "tcp dport 9100 accept"']
    assert deleted.line == 17 and lines[16].strip() == "tcp dport 9100 \\"
    after = deleted.text.splitlines()
    # both lines gone, every other line where it was (load errors name the user's lines)
    assert after[16:18] == ["", ""] and len(after) == len(lines)
    assert [x for i, x in enumerate(after) if i not in (16, 17)] == [
        x for i, x in enumerate(lines) if i not in (16, 17)
    ]
    # its verdict, on its second line, is the rule's: named by the first line
    assert ("accept -> drop", 17) in [(m.mutation, m.line) for m in found if m.rule == 17]


def test_each_element_of_a_set_or_map_is_removed_on_its_own() -> None:
    found = {m.mutation: m for m in mutants.mutants(NFT, "nft", "mutate.nft", ["eth0"])}
    web = found["element 8080 removed"]
    assert (web.line, web.element, web.rule) == (6, "8080", 0)
    assert "elements = { 80 }" in web.text
    vmap = found["element 9000 : accept removed"]
    assert vmap.line == 10 and "elements = { 23 : drop }" in vmap.text
    # an anonymous set's elements: the rule's line, and the rule it belongs to
    anon = mutants.mutants(ROOT / "labs" / "dmz-edge.nft", "nft", "dmz-edge.nft", ["eth0", "eth1"])
    got = [(m.line, m.rule, m.element) for m in anon if m.element]
    assert got == [(15, 15, "443"), (15, 15, "5432"), (18, 18, "icmp"), (18, 18, "ipv6-icmp")]
    assert "tcp dport { 5432 } counter accept" in anon[[m.element for m in anon].index("443")].text


def test_a_sets_last_element_removed_leaves_it_empty_and_a_rules_is_not_removed(tmp_path: Path) -> None:
    f = tmp_path / "one.nft"
    f.write_text(
        "table inet t {\n  set s { type ipv4_addr; elements = { 10.0.0.1 } }\n"
        "  chain c {\n    type filter hook input priority 0;\n    tcp dport { 22 } accept\n  }\n}\n"
    )
    found = [m for m in mutants.mutants(f, "nft", "one.nft") if m.element]
    # `{ }` in a rule does not load (deleting the rule says the same); an empty set does
    assert [(m.line, m.element) for m in found] == [(2, "10.0.0.1")]
    assert "set s { type ipv4_addr;  }" in found[0].text


def test_interface_matches_are_negated_and_turned_to_another_interface() -> None:
    got = [m for m, _ in mutants.line_mutants('iifname "eth0" oif lan0 accept', True, ["eth0", "lan0"])]
    assert got == [
        "accept -> drop",
        'iifname "eth0" negated',
        'iifname "eth0" -> "eth1"'.replace("eth1", "lan0"),
        "oif lan0 negated",
        "oif lan0 -> eth0",
    ]
    ipt = [
        m for m, _ in mutants.line_mutants("-A FORWARD -i lan0 -o wan0 -j ACCEPT", False, ["lan0", "wan0"])
    ]
    assert ipt == [
        "ACCEPT -> DROP",
        "-i lan0 negated",
        "-i lan0 -> wan0",
        "-o wan0 negated",
        "-o wan0 -> lan0",
    ]
    # a set of interfaces or a map keyed by one is not an interface match (its elements are)
    assert mutants.line_mutants('iifname { "a", "b" } accept', True, ["a"]) == [
        ("accept -> drop", 'iifname { "a", "b" } drop')
    ]
    assert mutants.line_mutants("iifname vmap @by_if", True, ["a"]) == []
    # nor are fib's words (a reverse-path check)
    assert mutants.line_mutants("fib saddr . iif oif missing drop", True, ["a"]) == [
        ("drop -> accept", "fib saddr . iif oif missing accept")
    ]
    # the host's interfaces come from the lab file: edge has eth0, eth1 and the uplink
    dmz = ROOT / "labs" / "dmz.toml"
    edge = [m.mutation for m in mutants.of_lab(load_lab(dmz), dmz) if m.line == 16]
    assert 'oifname "uplink0" -> "eth0"' in edge and 'iifname "eth0" -> "eth1"' in edge


def test_the_report_says_what_the_score_counts() -> None:
    m = mutants.Mutant(NFT, "mutate.nft", 19, 'deleting "tcp dport 443 accept"', "", 19)
    base = Baseline(["f.feature:3", "f.feature:9"], ["g.feature:5"])
    lines = text_report([MutantResult(m, "survived", "2 passing scenarios ran, none turned red")], base)
    assert lines == [
        'mutate.nft:19: deleting "tcp dport 443 accept" turns no scenario red '
        "(2 passing scenarios ran, none turned red)",
        "1 scenario fails on the unmutated lab and are not used: g.feature:5",
        "killed: one of the 2 scenarios that pass on the unmutated lab turned red",
        "mutation score: 0 of 1 mutants killed",
    ]


def test_every_passing_scenario_runs_those_reaching_the_file_first() -> None:
    """Coverage names the scenarios that hit a rule, not those whose packets fell through to
    the policy; a mutant can still turn those red (a negated match now catches them)."""
    base = Baseline(["f:3", "f:9", "g:5"], ["h:2"], reaching={NFT: ["g:5", "h:2"]})
    assert base.order(NFT) == ["g:5", "f:3", "f:9"]
    assert base.order(ROOT / "other.nft") == ["f:3", "f:9", "g:5"]
