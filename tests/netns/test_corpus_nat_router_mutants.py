"""nslab mutate on the NAT router of test_corpus_nat_router.py (tests/data/corpus/nat-router/:
labs/nat-router.toml, labs/router.nft, features/router.feature): which mutants of router.nft
its scenarios kill, every verdict worked out by hand from router.nft (the reasoning beside
each), never copied from what nslab printed. Its rules, by line:

  input    14 iif lo accept    17 ct state established,related accept
           20 iifname "eth0" tcp dport 22 accept    23 icmp type echo-request accept
           26 counter drop
  forward  31 ct state established,related accept    32 ct state invalid drop
           35 iifname "eth0" oifname { "uplink0", "eth1" } accept
           38 iifname "eth1" oifname "uplink0" tcp dport { 80, 443 } accept
           41 iifname "uplink0" oifname "eth1" ct status dnat accept    43 counter drop
  nat      52 the port-forwards' DNAT maps    62 oifname "uplink0" masquerade
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import DATA, host_snapshot, needs_netns

from nslab.coverage import mutate
from nslab.lab import load_lab

HERE = DATA / "corpus" / "nat-router"
LAB = HERE / "labs" / "nat-router.toml"
FEATURES = HERE / "features"
DNAT_DELETED = (
    'deleting "iifname "uplink0" dnat ip to tcp dport map { 80 : 172.16.2.10, 443 : 172.16.2.10, '
    '2222 : 172.16.2.20 } : tcp dport map { 80 : 80, 443 : 443, 2222 : 22 }"'
)


def real(test: Callable[..., None]) -> Callable[..., None]:
    """Builds real namespaces: skipped where worlds cannot be made, marked netns."""
    return pytest.mark.netns(needs_netns(test))


# Every mutant whose verdict is worked out here, with the reasoning. Each runs the scenarios
# in a world of its own (about 4 s of a worker): the suite runs one mutant per line of
# reasoning (CHOSEN), `pytest -m soak` runs them all (36 of the file's 58 mutants; all 58
# took 124 s of a worker, of which the 22 nobody asserted were 38%).
WANT = {
    # nothing of the scenarios is loopback traffic or a ping of the router
    (14, 'deleting "iif lo accept"'): "survived",
    (14, "accept -> drop"): "survived",
    (23, 'deleting "icmp type echo-request accept"'): "survived",
    (23, "accept -> drop"): "survived",
    # pc's ACK to the router's ssh also matches input rule 3 (eth0, dport 22); turned to
    # drop, the ACK is lost after pc already saw the SYN-ACK: accepted either way
    (17, 'deleting "ct state established,related accept"'): "survived",
    (17, "accept -> drop"): "survived",
    # pc's ssh to the router, the only scenario through input rule 3
    (20, 'deleting "iifname "eth0" tcp dport 22 accept"'): "killed",
    (20, "accept -> drop"): "killed",
    (20, "port 22 -> 21"): "killed",
    (20, "port 22 -> 23"): "killed",
    # without input's final drop the policy (drop) still drops web's ssh; as accept it opens it
    (26, 'deleting "counter drop"'): "survived",
    (26, "drop -> accept"): "killed",
    # the replies from the internet and the DMZ come back by forward rule 1 alone
    (31, 'deleting "ct state established,related accept"'): "killed",
    (31, "accept -> drop"): "killed",
    # no invalid packet is sent; but deleting the rule renumbers forward's drop, which a
    # scenario names as "forward rule 6"
    (32, 'deleting "ct state invalid drop"'): "killed",
    (32, "drop -> accept"): "survived",
    (35, 'deleting "iifname "eth0" oifname { "uplink0", "eth1" } accept"'): "killed",
    (35, "accept -> drop"): "killed",
    # no scenario sends the DMZ's updates out: only the deletion (renumbering) is seen
    (38, 'deleting "iifname "eth1" oifname "uplink0" tcp dport { 80, 443 } accept"'): "killed",
    (38, "accept -> drop"): "survived",
    (38, "port 80 -> 79"): "survived",
    (38, "port 80 -> 81"): "survived",
    (38, "port 443 -> 442"): "survived",
    (38, "port 443 -> 444"): "survived",
    (41, 'deleting "iifname "uplink0" oifname "eth1" ct status dnat accept"'): "killed",
    (41, "accept -> drop"): "killed",
    # the policy would drop web -> pc too, but not as "forward rule 6 (counter drop)"
    (43, 'deleting "counter drop"'): "killed",
    (43, "drop -> accept"): "killed",
    # no way in by the port-forwards
    (52, DNAT_DELETED): "killed",
    (62, 'deleting "oifname "uplink0" masquerade"'): "killed",
    # each element of either map removed: the port has then no address (or no port) to be
    # DNAT'd to, the rule does not translate it, and it stays the router's own port, which
    # input drops. The scenario's port-forwards of 80 and 2222 turn red; 443's forward is
    # used by no scenario
    (52, "element 80 : 172.16.2.10 removed"): "killed",
    (52, "element 443 : 172.16.2.10 removed"): "survived",
    (52, "element 2222 : 172.16.2.20 removed"): "killed",
    (52, "element 80 : 80 removed"): "killed",
    (52, "element 443 : 443 removed"): "survived",
    (52, "element 2222 : 22 removed"): "killed",
}
# one mutant of each line of reasoning above, each outcome of each rule the reasoning splits
CHOSEN = [
    (14, 'deleting "iif lo accept"'),
    (23, "accept -> drop"),
    (17, "accept -> drop"),
    (20, "port 22 -> 21"),
    (26, 'deleting "counter drop"'),
    (26, "drop -> accept"),
    (31, "accept -> drop"),
    (32, 'deleting "ct state invalid drop"'),
    (32, "drop -> accept"),
    (35, "accept -> drop"),
    (38, 'deleting "iifname "eth1" oifname "uplink0" tcp dport { 80, 443 } accept"'),
    (38, "port 443 -> 444"),
    (41, "accept -> drop"),
    (43, 'deleting "counter drop"'),
    (52, DNAT_DELETED),
    (62, 'deleting "oifname "uplink0" masquerade"'),
    (52, "element 80 : 172.16.2.10 removed"),
    (52, "element 443 : 172.16.2.10 removed"),
    (52, "element 2222 : 22 removed"),
    (52, "element 443 : 443 removed"),
]


def run_mutants(keys: list[tuple[int, str]], suite: Path) -> dict[tuple[int, str], str]:
    """The mutants named (line, mutation) run as `nslab mutate` runs them (nslab.mutate's
    Mutator: the unmutated run first, each mutant in its own world, 2 at once), their statuses.
    nslab mutate runs the scenarios under the suite's settings ([tool.nslab] of the nearest
    pyproject.toml, here `suite`'s): the patient waits, as above. At the defaults a reply late
    under load (pytest-xdist, other jobs) failed an unmutated scenario, which then killed
    nothing, or failed a mutant's run for a rule it never reached."""
    before = host_snapshot()
    (suite / "pyproject.toml").write_text("[tool.nslab]\nping_wait = 1\nprobe_wait = 1\n")
    by_key = {(m.line, m.mutation): m for m in mutate.of_lab(load_lab(LAB), LAB)}
    with contextlib.chdir(suite):
        mutator = mutate.Mutator(LAB, [str(FEATURES)], jobs=2)
        try:
            results = mutator.run([by_key[k] for k in keys])
        finally:
            mutator.close()
    assert host_snapshot() == before
    return {(r.mutant.line, r.mutant.mutation): r.status for r in results}


@pytest.fixture(scope="module")
def mutants(tmp_path_factory: pytest.TempPathFactory) -> dict[tuple[int, str], str]:
    return run_mutants(CHOSEN, tmp_path_factory.mktemp("suite"))


@real
def test_the_mutants_reasoned_by_hand_are_the_files_own() -> None:
    found = [(m.line, m.mutation) for m in mutate.of_lab(load_lab(LAB), LAB)]
    assert len(found) == 58 and set(WANT) <= set(found) and set(CHOSEN) <= set(WANT)
    # each rule's deletion is one mutant, named by the rule's first line
    assert [k for k in found if k[0] == 52 and k[1].startswith("deleting ")] == [(52, DNAT_DELETED)]


@real
@pytest.mark.slow  # its fixture: 20 mutants, each in a world of its own, a minute or more of a worker
def test_mutants_of_the_nat_router_killed_or_survived_as_reasoned(
    mutants: dict[tuple[int, str], str],
) -> None:
    assert mutants == {k: WANT[k] for k in CHOSEN}


@real
@pytest.mark.soak
def test_every_mutant_reasoned_by_hand_killed_or_survived_as_reasoned(tmp_path: Path) -> None:
    assert run_mutants(list(WANT), tmp_path) == WANT
