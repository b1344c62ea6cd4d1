"""A mutant's copy of the lab carries every file the lab names, so it loads as the lab does."""

from __future__ import annotations

from pathlib import Path
from typing import cast

from support.labs import host, lan_lab

from nslab.coverage.mutate import Baseline, Mutant, MutantResult, Mutator, nothing_scored, of_lab
from nslab.lab import load_lab

LAB = lan_lab(
    None,
    "10.9.0.0/24",
    host("gw", "10.9.0.1", firewall='{ nft = "gw.nft" }'),
    host(
        "dock",
        "10.9.0.2",
        docker='{ containers = [{ name = "app", publish = ["8080:80"] }], daemon = "conf/daemon.json" }',
    ),
)
NFT = """\
table inet gw {
  chain input {
    type filter hook input priority 0; policy drop;
    tcp dport 22 accept
  }
}
"""


def test_a_mutants_copy_has_the_docker_daemon_json_and_loads(tmp_path: Path) -> None:
    """Before, the copy held the lab file and its ruleset files only: a lab naming a
    daemon.json failed to load in every copy, so every mutant was called `invalid`."""
    (tmp_path / "lab.toml").write_text(LAB)
    (tmp_path / "gw.nft").write_text(NFT)
    (tmp_path / "conf").mkdir()
    (tmp_path / "conf" / "daemon.json").write_text('{"log-level": "warn"}\n')
    lab_file = tmp_path / "lab.toml"
    mutants = of_lab(load_lab(lab_file), lab_file)
    assert mutants, "the nft file gives mutants"
    mutator = Mutator(lab_file, [str(tmp_path)], 1)
    try:
        copy = mutator._copy(0, mutants[0])
        lab = load_lab(copy)  # raised "daemon.json ... does not exist" before
        dock = next(h for h in lab.hosts if h.name == "dock")
        assert dock.docker is not None and dock.docker.daemon is not None
        assert dock.docker.daemon.read_text() == '{"log-level": "warn"}\n'
        assert dock.docker.daemon != (tmp_path / "conf" / "daemon.json").resolve()  # the copy's own
    finally:
        mutator.close()


def test_mutants_that_all_fail_to_load_fail_the_run_instead_of_scoring_0_of_0() -> None:
    """A run whose every mutant was invalid printed `mutation score: 0 of 0 mutants killed`
    and exited 0 (a new user's ufw-folder lab, every copy missing its folder)."""
    m = Mutant(Path("/lab/gw.nft"), "gw.nft", 4, "accept -> drop", "")
    invalid = [MutantResult(m, "invalid", "labs/ufw is not a folder")] * 3
    said = nothing_scored(invalid)
    assert said is not None
    assert (
        "none of the 3 mutants loaded" in said.problem
        and "gw.nft:4: labs/ufw is not a folder" in said.problem
    )
    assert nothing_scored([*invalid, MutantResult(m, "survived")]) is None  # one scored: a result
    assert nothing_scored([]) is None  # nothing to mutate is said elsewhere


def test_a_surviving_map_elements_why_gives_the_elements_hits_not_the_rules() -> None:
    """Element 2000 of a DNAT map that no scenario reached said "the rule matched 1 of their
    packets unmutated" (the map's rule, hit by element 1000's packet): now the element's."""
    file = Path("/lab/nat.nft")
    m = Mutant(
        file, "nat.nft", 14, "element 2000 : 10.2.0.20 removed", "", rule=14, element="2000 : 10.2.0.20"
    )
    base = Baseline(["f:3"], [], counted=True)
    base.hits = {(file, 14): 1}
    base.element_hits = {(file, 14): {"1000": 1, "2000": 0}}  # by key, as coverage counts them
    why = Mutator._survived(cast(Mutator, None), base, m, 1)
    assert (
        why == "1 passing scenario ran, none turned red; the element matched none of their packets unmutated"
    )
    base.element_hits = {}  # not counted element by element: nothing said of the rule's hits
    assert Mutator._survived(cast(Mutator, None), base, m, 1) == "1 passing scenario ran, none turned red"
