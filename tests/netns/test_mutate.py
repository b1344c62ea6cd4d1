"""nslab mutate measures the suite as it runs (nslab.coverage.mutate): mutants run under the
suite's own settings (the counting rules nslab adds for rules written without `counter`
included), only scenarios that pass on the unmutated lab can kill one; a shard runs its own.
How the mutants are made (pure): tests/unit/test_mutants.py.

    a 10.41.0.10 ---- br-mut ---- b 10.41.0.20   (tests/labs/mutate.toml, mutate.nft)
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from conftest import HERE_FEATURES, ROOT, host_snapshot, needs_netns

from nslab.firewall import mutants
from nslab.lab import load_lab

LAB = ROOT / "tests" / "labs" / "mutate.toml"
NFT = ROOT / "tests" / "labs" / "mutate.nft"
FEATURES = HERE_FEATURES / "mutate"
NSLAB = [sys.executable, "-m", "nslab.cli"]


def nslab(*args: str, cwd: Path = ROOT, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*NSLAB, *args], cwd=cwd, capture_output=True, text=True, timeout=timeout)


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
    # the two mutants judged below, and few others: a shard (every Nth mutant from the Kth)
    # that holds both (all 19 mutants took ~40 s of a worker; the test above runs them all)
    every = [(m.line, m.mutation) for m in mutants.of_lab(load_lab(LAB), LAB)]
    first = every.index((17, 'deleting "tcp dport 9100 accept"'))
    step = every.index((19, 'deleting "tcp dport 443 accept"')) - first
    assert step > 0
    shard = f"{first % step + 1}/{step}"
    argv = ["mutate", "--lab", str(LAB), "-j", "2", "--shard", shard, "--format", "json", str(feature)]
    r = nslab(*argv, cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-3000:]
    assert "1 scenario fails on the unmutated lab and are not used: " in r.stderr
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
