"""nslab mutate's load check runs on the suite's target: its -D target=ssh (no host: the
ssh target's own error), and a real sshd on 127.0.0.1 where the throwaway world is built."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import replace
from pathlib import Path

from conftest import HERE_FEATURES, ROOT, host_snapshot, needs_sshd
from support.sshd import TestSshd

from nslab.firewall import mutants

LAB = ROOT / "tests" / "labs" / "mutate.toml"
FEATURES = HERE_FEATURES / "mutate"
NSLAB = [sys.executable, "-m", "nslab.cli"]


def nslab(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*NSLAB, *args], cwd=cwd, capture_output=True, text=True, timeout=600)


def test_the_load_check_runs_on_the_runs_target_not_this_machines() -> None:
    """The suite's -D target=ssh is where mutants are load-checked: with no host, the ssh
    target's own error, where the check once took this machine's whatever the run's."""
    import pytest

    from nslab.coverage.mutate import Mutator
    from nslab.errors import TargetError

    mutator = Mutator(LAB, [str(FEATURES)], 1, behave_args=["-D", "target=ssh"])
    try:
        with pytest.raises(TargetError, match="the ssh target needs a host"):
            mutator.invalid(mutants.of_lab(mutator.lab, LAB)[:2])
    finally:
        mutator.close()
    r = nslab("mutate", "--lab", str(LAB), "-D", "target=ssh", str(FEATURES))  # the same from the CLI
    assert r.returncode == 2 and "the ssh target needs a host" in r.stderr.strip().splitlines()[-1], r.stderr


@needs_sshd
def test_mutants_are_load_checked_over_ssh_when_the_suite_runs_there(sshd: TestSshd) -> None:
    """With the suite's settings pointing at an sshd, the throwaway world that checks the
    mutants load is built over ssh, and the file that does not load is still found."""
    from nslab.coverage.mutate import Mutator

    said: list[str] = []
    before = host_snapshot()
    mutator = Mutator(LAB, [str(FEATURES)], 1, behave_args=sshd.userdata(), progress=said.append)
    try:
        found = [m for m in mutants.of_lab(mutator.lab, LAB) if m.line in (6, 15)]
        broken = replace(found[0], text="table inet b {\n  nonsense\n}\n")
        bad = mutator.invalid([*found, broken])
    finally:
        mutator.close()
    assert f"checking that {len(found) + 1} mutants load, on the ssh target" in said, said
    assert list(bad) == [len(found)] and "mutate.nft" in bad[len(found)], bad
    assert host_snapshot() == before
