"""nslab mutate measures the suite as it runs (nslab.coverage.mutate, nslab.firewall.mutants): mutants run
under the suite's own settings (the counting rules nslab adds for rules written without
`counter` included), only scenarios that pass on the unmutated lab can kill one, and a
rule over two lines, a set or map element and an interface match get mutants.

    a 10.41.0.10 ---- br-mut ---- b 10.41.0.20   (tests/labs/mutate.toml, mutate.nft)
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from conftest import HERE_FEATURES, ROOT, host_snapshot, needs_netns

from nslab.coverage.mutate import Baseline, Result, text_report
from nslab.firewall import mutants
from nslab.lab import load_lab

LAB = ROOT / "tests" / "labs" / "mutate.toml"
NFT = ROOT / "tests" / "labs" / "mutate.nft"
FEATURES = HERE_FEATURES / "mutate"
NSLAB = [sys.executable, "-m", "nslab.cli"]


def nslab(*args: str, cwd: Path = ROOT, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*NSLAB, *args], cwd=cwd, capture_output=True, text=True, timeout=timeout)


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
    lines = text_report([Result(m, "survived", "2 passing scenarios ran, none turned red")], base)
    assert lines == [
        'mutate.nft:19: deleting "tcp dport 443 accept" turns no scenario red '
        "(2 passing scenarios ran, none turned red)",
        "1 scenarios fail on the unmutated lab and are not used: g.feature:5",
        "killed: one of the 2 scenarios that pass on the unmutated lab turned red",
        "mutation score: 0 of 1 mutants killed",
    ]


def test_every_passing_scenario_runs_those_reaching_the_file_first() -> None:
    """Coverage names the scenarios that hit a rule, not those whose packets fell through to
    the policy; a mutant can still turn those red (a negated match now catches them)."""
    base = Baseline(["f:3", "f:9", "g:5"], ["h:2"], reaching={NFT: ["g:5", "h:2"]})
    assert base.order(NFT) == ["g:5", "f:3", "f:9"]
    assert base.order(ROOT / "other.nft") == ["f:3", "f:9", "g:5"]


# --- running them (real worlds) ----------------------------------------------------------------


@needs_netns
def test_mutants_run_as_the_suite_runs_and_only_passing_scenarios_kill() -> None:
    """b's 443 rule: no counter, no scenario reaches it, and a scenario asks which rule
    decided its verdict. Without nslab's counting rules that scenario fails on every
    mutant, so deleting the rule was "killed"; as the suite runs, it survives."""
    before = host_snapshot()
    r = nslab("mutate", "--lab", str(LAB), "-j", "2", "--format", "json", str(FEATURES))
    assert r.returncode == 0, r.stderr[-3000:]
    got = {(m["line"], m["mutation"]): m for m in json.loads(r.stdout)}
    status = {k: m["status"] for k, m in got.items()}
    unreached = got[(19, 'deleting "tcp dport 443 accept"')]
    assert unreached["status"] == "survived", unreached
    assert "the rule matched none of their packets unmutated" in unreached["why"]
    # a rule over two lines loads without its two lines, and 9100 is then dropped
    assert status[(17, 'deleting "tcp dport 9100 accept"')] == "killed"
    # elements: of a named set, of a verdict map; 23's drop is the policy's anyway
    assert status[(6, "element 8080 removed")] == "killed"
    assert got[(10, "element 9000 : accept removed")]["element"] == "9000 : accept"
    assert status[(10, "element 9000 : accept removed")] == "killed"
    assert status[(10, "element 23 : drop removed")] == "survived"
    # the interface match: b's only other interface is lo
    assert status[(15, 'iifname "eth0" negated')] == "killed"
    assert status[(15, 'iifname "eth0" -> "lo"')] == "killed"
    # the scenario red before any mutation kills nothing, and is named
    assert not any(m["why"].startswith(str(FEATURES / "red-unmutated")) for m in got.values())
    assert "not used: tests/features/mutate/red-unmutated.feature:5" in r.stderr
    assert "invalid" not in status.values()
    killed = sum(s == "killed" for s in status.values())
    assert r.stderr.strip().splitlines()[-1] == f"mutation score: {killed} of {len(status)} mutants killed"
    assert host_snapshot() == before


@needs_netns
def test_a_shard_runs_its_own_mutants_only() -> None:
    """`--shard K/N`, a CI matrix's runner: every Nth mutant from the Kth, named on stderr,
    and only those run (this was checked on the dmz lab's 47 mutants, minutes of a worker)."""
    feature = FEATURES / "b-ports.feature"
    r = nslab("mutate", "--lab", str(LAB), "-j", "2", "--shard", "2/7", "--format", "json", str(feature))
    assert r.returncode == 0, r.stderr[-3000:]
    assert "nslab: shard 2/7: 3 mutants" in r.stderr
    every = mutants.of_lab(load_lab(LAB), LAB)
    want = [(m.line, m.mutation) for m in every[1::7]]
    assert [(m["line"], m["mutation"]) for m in json.loads(r.stdout)] == want


@needs_netns
def test_no_scenario_passing_unmutated_is_said_and_fails() -> None:
    r = nslab("mutate", "--lab", str(LAB), "-j", "2", str(FEATURES / "red-unmutated.feature"))
    assert r.returncode == 2
    assert r.stderr.strip().splitlines()[-1] == (
        "nslab: no scenario passes on the unmutated lab, so no mutant can be judged (all 1 fail: "
        "tests/features/mutate/red-unmutated.feature:5) (fix: make some pass first (behave "
        f"{FEATURES / 'red-unmutated.feature'}))"
    ), r.stderr[-2000:]


@needs_netns
def test_mutants_keep_the_suites_settings_even_rule_coverage_off(tmp_path: Path) -> None:
    """A suite that runs with rule_coverage = "off": its `decided by` scenario fails there
    (no counting rule for b's rules), so it fails unmutated too and is left out; it does not
    kill every mutant."""
    (tmp_path / "pyproject.toml").write_text('[tool.nslab]\nrule_coverage = "off"\n')
    feature = FEATURES / "b-ports.feature"
    r = nslab("mutate", "--lab", str(LAB), "-j", "2", "--format", "json", str(feature), cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-3000:]
    assert "1 scenarios fail on the unmutated lab and are not used: " in r.stderr
    assert r.stderr.split("not used: ")[1].splitlines()[0].endswith("b-ports.feature:17")
    got = {(m["line"], m["mutation"]): m for m in json.loads(r.stdout)}
    unreached = got[(19, 'deleting "tcp dport 443 accept"')]
    # no coverage run: nothing said about the rule's hits
    assert (
        unreached["status"] == "survived" and unreached["why"] == "3 passing scenarios ran, none turned red"
    )
    assert got[(17, 'deleting "tcp dport 9100 accept"')]["status"] == "killed"


@needs_netns
def test_files_that_fail_the_load_check_as_they_are_are_said_not_every_mutant_invalid(tmp_path: Path) -> None:
    """A file that fails nslab's load check as it is (here an index match on an interface
    the host does not have) would make every mutant `invalid`: one line says so instead."""
    lab = tmp_path / "lab.toml"
    lab.write_text(LAB.read_text().replace("mutate.nft", "iif.nft"))
    (tmp_path / "iif.nft").write_text(
        "table inet b {\n  chain input {\n    type filter hook input priority filter; policy drop;\n"
        '    iif "eth9" tcp dport 80 accept\n  }\n}\n'
    )
    r = nslab("mutate", "--lab", str(lab), "-j", "2", str(FEATURES / "b-ports.feature"))
    assert r.returncode == 2 and r.stderr.strip().splitlines()[-1] == (
        "nslab: the lab's ruleset files fail nslab's load check as they are, so no mutant can be "
        "checked: host b's nft ruleset does not load: iif.nft: line 4: interface `eth9` does not exist "
        "on this host (its interfaces: eth0) (fix: make `nslab validate lab.toml` pass first)"
    ), r.stderr[-2000:]
