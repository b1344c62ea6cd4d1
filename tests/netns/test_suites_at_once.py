"""Two suites at once on one machine never fail each other: every "nothing left behind"
check judges only what its own run started (its worlds, its PIDs, its users)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT, needs_netns, needs_sshd
from support.procs import alive, run_reaping


def test_a_leftover_is_found_and_only_this_runs() -> None:
    foreign = subprocess.Popen(["sleep", "30"])  # another suite's process, say
    try:
        r, left = run_reaping(["sh", "-c", "sleep 29 & exit 3"], capture_output=True, text=True)
        assert r.returncode == 3
        assert left == ["sleep 29"]  # found although its parent had ended; and then ended
        assert alive(foreign.pid)  # never touched, never reported
        r, left = run_reaping(["true"])
        assert (r.returncode, left) == (0, [])
    finally:
        foreign.kill()
        foreign.wait()


def _all_pass(argvs: list[list[str]]) -> list[str]:
    """Start every argv at once (from the checkout); each must exit 0. Their outputs."""
    procs = [
        subprocess.Popen(argv, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        for argv in argvs
    ]
    outputs = [p.communicate(timeout=600)[0] for p in procs]
    for proc, out in zip(procs, outputs, strict=True):
        assert proc.returncode == 0, out[-3000:]
    return outputs


@needs_netns
@needs_sshd
@pytest.mark.slow  # two pytest sessions at once: 64 s of a worker in the whole suite
def test_two_test_suites_at_once_both_pass(tmp_path: Path) -> None:
    """Two pytest sessions of the tests that judge the machine (helpers left behind, login
    users and sudoers, the root namespace), at once: neither fails the other."""
    judges = [
        "tests/netns/test_probes.py::test_every_outcome_class_on_real_namespaces_and_no_helper_left",
        "tests/ssh/test_ssh_target.py::test_sudo_needing_a_password_is_named",
        "tests/ssh/test_ssh_target.py::test_whole_suite_over_ssh_as_a_sudo_user",
    ]
    outputs = _all_pass(
        [
            [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--basetemp",
             str(tmp_path / f"pytest-{i}"), *judges]
            for i in range(2)
        ]
    )  # fmt: skip
    assert all(f"{len(judges)} passed" in out for out in outputs), outputs
