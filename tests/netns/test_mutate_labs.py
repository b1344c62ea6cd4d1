"""nslab mutate (nslab.coverage.mutate) on the shipped dmz story, a user's lab and the lab
`nslab init` writes: whether a wrong rule would turn a scenario red, verdicts worked out by
hand from the ruleset and the features.

    pc ---- edge ---- web, db       (the dmz story: labs/dmz.toml, labs/dmz-edge.nft)
    a ---- br-nd ---- b             (tests/labs/ndcov.toml: b's input, no counters, an ND rule)
    pc ---- br-lan ---- web         (nslab init's lab: web.nft)
"""

from __future__ import annotations

import contextlib
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import DATA, HERE_FEATURES, ROOT, host_snapshot, needs_netns, run_behave

from nslab.coverage import mutate
from nslab.lab import load_lab

DMZ = ROOT / "labs" / "dmz.toml"
NDCOV = ROOT / "tests" / "labs" / "ndcov.toml"
NSLAB = [sys.executable, "-m", "nslab.cli"]


def nslab(*args: str, cwd: Path = ROOT, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*NSLAB, *args], cwd=cwd, capture_output=True, text=True, timeout=timeout)


def verdicts(
    project: Path, lab: Path, features: str, chosen: list[mutate.Mutant]
) -> dict[tuple[int, str], str]:
    """The chosen mutants run as `nslab mutate` runs them from `project` (nslab.mutate's
    Mutator: the unmutated run first, each mutant in a world of its own, 2 at once)."""
    with contextlib.chdir(project):
        mutator = mutate.Mutator(lab, [features], jobs=2)
        try:
            results = mutator.run(chosen)
        finally:
            mutator.close()
    return {(r.mutant.line, r.mutant.mutation): r.status for r in results}


# Hand-computed from features/dmz and labs/dmz-edge.nft: the verdicts of 8 of its 47 mutants
DMZ_WANT = {
    # no scenario sends a packet conntrack calls invalid: accepting them changes nothing seen
    (14, "drop -> accept"): "survived",
    # ... but deleting that rule renumbers the final drop, which a scenario names as rule 7
    (14, 'deleting "ct state invalid counter drop"'): "killed",
    # the matrix wants pc -> web tcp/443 accepted and pc -> db tcp/22 dropped
    (15, "port 443 -> 444"): "killed",
    (19, "drop -> accept"): "killed",
    # the port-forward of 80 goes to web's address only
    (17, "ip daddr 10.2.0.10 negated"): "killed",
    # "out: masqueraded behind 198.51.100.1" is a scenario of its own
    (30, 'deleting "oifname "uplink0" counter masquerade"'): "killed",
    # the interface matches: the LAN's traffic in by eth1 is not the LAN's
    (15, 'iifname "eth0" -> "eth1"'): "killed",
    (15, "element 443 removed"): "killed",
}


@needs_netns
def test_mutating_the_dmz_edge_ruleset() -> None:
    """The 8 mutants reasoned above, run as `nslab mutate` runs them (nslab.mutate's Mutator:
    the unmutated run first, each mutant in a world of its own, 2 at once). All 47 took 2.5
    to 5 minutes of a worker (the suite's longest test): `pytest -m soak` runs them through
    the command, and test_mutate runs every mutant of its small lab through it."""
    before = host_snapshot()
    found = {(m.line, m.mutation): m for m in mutate.of_lab(load_lab(DMZ), DMZ)}
    assert len(found) == 47 and set(DMZ_WANT) <= set(found)
    # the same mutants, in the same order, as before the package tree was moved (the whole
    # run's verdicts are compared with that record under `pytest -m soak`)
    recorded = json.loads((DATA / "unchanged" / "mutate-dmz.json").read_text())
    assert list(found) == [(m["line"], m["mutation"]) for m in recorded]
    assert {
        (m["line"], m["mutation"]): m["status"] for m in recorded if (m["line"], m["mutation"]) in DMZ_WANT
    } == DMZ_WANT
    # features/dmz and the project's [tool.nslab], as the command
    assert verdicts(ROOT, DMZ, "features/dmz", [found[k] for k in DMZ_WANT]) == DMZ_WANT
    assert host_snapshot() == before


@needs_netns
@pytest.mark.soak
def test_mutating_the_whole_dmz_edge_ruleset() -> None:
    """All 47 mutants through the command, as the README shows it: 46 killed."""
    before = host_snapshot()
    r = nslab("mutate", "--lab", str(DMZ), "-j", "2", "--format", "json", "features/dmz")
    assert r.returncode == 0, r.stderr[-3000:]
    got = {(m["line"], m["mutation"]): m["status"] for m in json.loads(r.stdout)}
    assert len(got) == 47 and {k: got[k] for k in DMZ_WANT} == DMZ_WANT
    # the same mutants and verdicts as before the package tree was moved (tests/netns/test_unchanged.py)
    assert json.loads(r.stdout) == json.loads((DATA / "unchanged" / "mutate-dmz.json").read_text())
    assert r.stderr.strip().splitlines()[-1] == "mutation score: 46 of 47 mutants killed"
    text = nslab("mutate", "--lab", str(DMZ), "-j", "2", "--shard", "1/5", "features/dmz")
    assert (
        text.returncode == 0
        and text.stdout.strip().splitlines()[-1] == "mutation score: 10 of 10 mutants killed"
    ), text.stdout
    assert host_snapshot() == before


@needs_netns
def test_mutating_a_users_lab_names_survivors_and_mutants_that_do_not_load(tmp_path: Path) -> None:
    r = nslab("mutate", "--lab", str(NDCOV), "-j", "2", str(HERE_FEATURES / "coverage"))
    assert r.returncode == 0, r.stderr[-3000:]
    lines = r.stdout.strip().splitlines()
    # a rule whose set spans two lines is deleted whole: it loads, and port 80 is then dropped
    assert not any("does not load" in x for x in lines), lines
    # no scenario reaches b's 443, nor 8080
    assert (
        'ndcov.nft:10: deleting "tcp dport 443 accept" turns no scenario red (2 passing scenarios ran, '
        "none turned red; the rule matched none of their packets unmutated)"
    ) in lines
    assert any(
        re.fullmatch(r"ndcov\.nft:9: element 8080 removed turns no scenario red \(.+\)", x) for x in lines
    )
    assert lines[-1] == "mutation score: 6 of 14 mutants killed"


# Worked out by hand from the scaffold's web.nft and example.feature: 3 of its 18 mutants
SCAFFOLD_WANT = {
    # nothing listens on 22: a refused port is refused whether web rejects it or accepts it
    (12, "reject -> accept"): "survived",
    # no example scenario reaches 443 (the coverage line above says so)
    (13, 'deleting "tcp dport 443 counter accept"'): "survived",
    # the example connects to web's port 80
    (11, "port 80 -> 81"): "killed",
}


@needs_netns
def test_the_scaffolds_lab_has_coverage_and_mutants(tmp_path: Path) -> None:
    """The lab `nslab init` writes: its coverage line, and 3 of its 18 mutants run as
    `nslab mutate` runs them (the README's first hour runs the command over all the
    mutants of that lab with a host and a rule added: tests/netns/test_first_hour.py)."""
    assert nslab("init", str(tmp_path / "proj")).returncode == 0
    proj = tmp_path / "proj"
    run = run_behave("features/", cwd=proj)
    assert run.returncode == 0, run.stdout[-2000:]
    assert (
        "rule coverage: web.nft (web) 4/5 rules (80%); never matched: line 13 (tcp dport 443 counter accept)"
        in run.stderr
    )
    assert (proj / "reports" / "rule-coverage.xml").exists()
    lab = proj / "labs" / "lab.toml"
    found = {(m.line, m.mutation): m for m in mutate.of_lab(load_lab(lab), lab)}
    assert len(found) == 18 and set(SCAFFOLD_WANT) <= set(found)
    # the project's [tool.nslab] and features/, as the command
    assert verdicts(proj, lab, "features/", [found[k] for k in SCAFFOLD_WANT]) == SCAFFOLD_WANT


def test_bad_input_to_mutate_is_one_line(tmp_path: Path) -> None:
    seed = nslab("mutate", "--lab", str(ROOT / "labs" / "seed.toml"))
    assert seed.returncode == 2 and seed.stderr.strip() == (
        "nslab: lab 'seed' has no ruleset file or firewall manager rule to mutate "
        '(fix: give a host firewall = { nft = "FILE" } (or iptables, ip6tables), '
        '{ ufw = [...] } or { firewalld = "FOLDER" })'
    )
    missing = nslab("mutate", "--lab", str(tmp_path / "nope.toml"))
    assert (
        missing.returncode == 2
        and "no such lab file" in missing.stderr
        and len(missing.stderr.splitlines()) == 1
    )
