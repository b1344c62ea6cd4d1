"""Steps that do what they say (issue 27 item 2), in real worlds: the seed chain's steps
leave no dead rule, a multi-homed host is reached on the source's side, IPv6 pings take a
size, the internet is named by both its addresses, a host's chain is named by its host;
and where a step cannot know (a spoofed ping's loss, whose chain), it says so."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import HERE_FEATURES, ROOT, TESTS, host_snapshot, needs_netns, run_feature

HERE_LABS = TESTS / "labs"
NSLAB = [sys.executable, "-m", "nslab.cli"]


@needs_netns
def test_seed_chain_steps_do_what_they_say(tmp_path: Path) -> None:
    """`accepts nothing` then `accepts traffic out of the bridge` (the ACCEPT was below the
    RETURN), `accepts nothing` after the firewall stage (its ACCEPT stayed), and `the rule
    accepting ... is removed` as a Given (undefined)."""
    r = run_feature(HERE_FEATURES / "seed-chain-steps.feature", tmp_path)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-1000:]
    assert "3 scenarios passed, 0 failed, 0 skipped" in r.stdout


@needs_netns
def test_routed_steps_do_what_they_say(tmp_path: Path) -> None:
    r = run_feature(HERE_FEATURES / "steps-do-what-they-say.feature", tmp_path)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-1000:]
    assert "4 scenarios passed, 0 failed, 0 skipped" in r.stdout


@needs_netns
def test_the_internet_is_named_by_both_its_addresses_and_the_resolver_is_a_place(tmp_path: Path) -> None:
    r = run_feature(HERE_FEATURES / "internet-both-addresses.feature", tmp_path)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-1000:]
    assert "2 scenarios passed, 0 failed, 0 skipped" in r.stdout


@needs_netns
def test_counters_ruleset_lines_in_order_and_a_hosts_loopback(tmp_path: Path) -> None:
    r = run_feature(HERE_FEATURES / "more-words.feature", tmp_path)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-1000:]
    assert "3 scenarios passed, 0 failed, 0 skipped" in r.stdout


@needs_netns
def test_steps_that_cannot_know_say_so(tmp_path: Path) -> None:
    r = run_feature(HERE_FEATURES / "steps-say-so.feature", tmp_path)
    assert r.returncode == 1
    out = r.stdout
    assert "0 scenarios passed, 5 failed" in out, out[-3000:]
    assert (
        "'the ruleset shows, in order' does not say whose: lab 'mtu' has no ruleset files "
        "(fix: write 'the host's ruleset shows, in order')"
    ) in out, out[-3000:]
    assert (
        "lab 'multihomed' has no simulated internet, so no internet (fix: add an [upstream] table "
        'to the lab file (via = "ROUTER": the router it hangs off))'
    ) in out, out[-3000:]
    assert (
        "the last ping was sent as 10.41.1.99, so its replies go there, not to ca: no loss or "
        "reply count is measured (fix: say whether it arrived: 'Then srv saw pings from 10.41.1.99'"
    ) in out, out[-3000:]
    assert (
        "'chain INPUT holds, in order' does not say whose chain: in lab 'multihomed' srv has rules "
        "of its own (fix: write 'srv's chain INPUT holds, in order'"
    ) in out, out[-3000:]
    assert (
        "srv's loopback is reachable from srv only: from ca, a loopback address is ca's own "
        "(fix: probe it from srv ('srv pings srv's loopback'), or name srv itself)"
    ) in out, out[-3000:]


@needs_netns
def test_the_lab_host_has_a_ruleset_and_sysctls_of_its_own(tmp_path: Path) -> None:
    """`[firewall] nft = FILE` and `[lab] sysctls` for the lab's host (once "[firewall]:
    unknown key 'nft'"): br_netfilter.sh's bridge-family ruleset, loaded in the world's
    root namespace only (the machine's stays as it was)."""
    before = host_snapshot()
    r = run_feature(HERE_FEATURES / "lab-host-words.feature", tmp_path)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-1000:]
    assert "1 scenario passed, 0 failed, 0 skipped" in r.stdout
    assert host_snapshot() == before


@needs_netns
def test_a_lab_hosts_ruleset_that_does_not_load_names_its_file_and_line(tmp_path: Path) -> None:
    lab = (HERE_LABS / "bridge-host.toml").read_text()
    (tmp_path / "bridge-host.toml").write_text(lab)
    rules = (HERE_LABS / "bridge-host.nft").read_text().replace("counter drop", "counter dorp")
    (tmp_path / "bridge-host.nft").write_text(rules)
    r = subprocess.run(
        [*NSLAB, "validate", str(tmp_path / "bridge-host.toml")], capture_output=True, text=True
    )
    assert r.returncode == 2, r.stdout + r.stderr
    assert "nslab: the lab's host's nft ruleset does not load: " in r.stderr
    assert "bridge-host.nft: line 5: " in r.stderr and "(fix: did you mean drop?)" in r.stderr
    r = subprocess.run(
        [*NSLAB, "validate", str(HERE_LABS / "bridge-host.toml")], capture_output=True, text=True
    )
    assert r.returncode == 0 and "1 ruleset file(s) loaded in a throwaway world" in r.stdout, r.stderr


def test_the_new_phrasings_are_among_the_suggestions() -> None:
    from behave.step_registry import registry

    import nslab.behave.steps  # noqa: F401  (registers the steps)
    from nslab.behave.suggest import did_you_mean

    assert did_you_mean("r2's counter x counted exacly 1 packets", registry)[0] == (
        "Then {place}'s counter {name} counted exactly {n:d} packets"
    )
    assert did_you_mean("r2's counter x counted no packet", registry)[0] == (
        "Then {place}'s counter {name} counted no packets"
    )
    assert did_you_mean("r2's ruleset show, in order", registry)[0] == "Then {name}'s ruleset shows, in order"
    assert did_you_mean("srv's chain INPUT hold, in order", registry)[0] == (
        "Then {name}'s chain {chain} holds, in order"
    )
    assert did_you_mean("pc pings web over IPv6 with 1000 byte of data", registry)[0] == (
        "When {src} pings {dest} over IPv6 with {size} bytes of data{df}?"
    )


def test_a_lab_without_upstream_has_no_internet_and_reserves_none_of_its_ranges() -> None:
    """Once 'network lan: 198.51.100.0/24 overlaps the simulated internet's', the internet
    offered in fix messages and explored, its stages run, in a lab that never named one."""
    import tomllib

    from nslab.errors import LabError
    from nslab.lab.tables import read_lab
    from nslab.reach import flows

    raw = tomllib.loads(
        '[[network]]\nname = "lan"\nsubnet = "198.51.100.0/24"\n'
        '[[host]]\nname = "pc"\ninterfaces = [{ network = "lan", address = "198.51.100.10" }]\n'
    )
    lab = read_lab(raw, HERE_LABS)
    assert not lab.internet and {"upstream", "dns"}.isdisjoint(lab.declares)
    assert [p.name for p in flows.places(lab)] == ["pc"]
    with pytest.raises(LabError) as err:
        lab.resolve("the internet")
    assert "use one of: pc, or an address inside the lab" in str(err.value)
    assert str(lab.resolve("198.51.100.10")) == "198.51.100.10"
    with_it = read_lab(
        {
            **raw,
            "network": [{"name": "lan", "subnet": "10.1.0.0/24"}],
            "host": [{"name": "pc", "interfaces": [{"network": "lan", "address": "10.1.0.10"}]}],
            "upstream": {},
        },
        HERE_LABS,
    )
    assert with_it.internet and "upstream" in with_it.declares
    assert str(with_it.resolve("the internet")) == "203.0.113.10"


@needs_netns
@pytest.mark.parametrize("seed", ["1", "2"])  # seeds under which the feature's tag won
def test_a_scenarios_own_lab_tag_beats_its_features(tmp_path: Path, seed: str) -> None:
    feature = str(HERE_FEATURES / "lab-tag-nearest.feature")
    argv = [sys.executable, "-m", "behave", feature, "-D", f"reports={tmp_path}", "-D", "html=", "--no-junit"]
    env = {**os.environ, "PYTHONHASHSEED": seed}
    r = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=300, env=env)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-1000:]
    assert "2 scenarios passed, 0 failed, 0 skipped" in r.stdout
