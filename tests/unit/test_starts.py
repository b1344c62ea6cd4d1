"""What a process start imports: the suite starts hundreds of behave processes and thousands
of on-target helpers, so a module a run does not use must not be imported at its start
(bench/bench_starts.py measures the CPU; here the imports themselves are checked, since a
time would only be a flaky guard on a loaded machine)."""

from __future__ import annotations

import os
import subprocess
import sys

from conftest import ROOT


def imported(argv: list[str]) -> set[str]:
    """The modules a python process imports, as its -X importtime lines on stderr name them."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    r = subprocess.run(
        [sys.executable, "-X", "importtime", *argv],
        cwd=ROOT,
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    lines = [line.split("|")[-1].strip() for line in r.stderr.splitlines() if line.startswith("import time:")]
    assert lines, f"no -X importtime lines: {r.stderr[-500:]}"
    return set(lines[1:])  # the first is the header


def test_a_behave_start_imports_no_report_writer_nor_remote_target() -> None:
    """A dry run of a feature on the local target, with no JUnit: the JUnit merge (junitparser,
    lxml), the HTML page, the rule coverage, the failure bundle, explore (its one step), the
    mutants (nslab mutate) and the ssh target's paramiko are for runs and steps that use them
    (they were ~40 ms of a start's CPU)."""
    found = imported(
        ["-m", "behave", "--dry-run", "-f", "null", "--no-junit", "features/01-base-lab.feature"]
    )
    assert "nslab.behave.hooks" in found and "nslab.behave.steps" in found  # it did load nslab
    unwanted = {
        "junitparser",
        "lxml",
        "nslab.report.junit",
        "nslab.behave.junit_reporter",
        "behave.reporter.junit",
        "nslab.behave.run_report",
        "nslab.report.html",
        "nslab.report.failure",
        "nslab.coverage.report",
        "nslab.coverage.counts",
        "nslab.reach.explore",
        "nslab.firewall.mutants",
        "nslab.managers.mutants",
        "paramiko",
        "nslab.machine.targets.ssh",
        "vagrant",
    }
    assert sorted(unwanted & found) == []


def test_the_on_target_helper_starts_from_cached_bytecode_without_typing_subprocess_or_ctypes() -> None:
    """netprobe.py as a world starts it (-I -S, its parts beside it), given no request: the
    annotations' typing, the snapshots' subprocess and contextlib are not needed to be ready,
    and ctypes only where os.setns is missing, at the first namespace entered."""
    found = imported(["-I", "-S", str(ROOT / "src/nslab/ontarget/netprobe.py")])
    assert {"netprobe_netns", "netprobe_probes", "json", "socket"} <= found  # it did start
    # the server is imported, not the program's own file: python caches the bytecode only of
    # what is imported, and compiling the server at every start cost ~3 ms of its ~21
    assert "netprobe_server" in found
    assert sorted({"typing", "subprocess", "contextlib", "ctypes"} & found) == []


def test_a_run_writing_junit_and_the_page_needs_no_junitparser() -> None:
    """behave writes the JUnit files itself (nslab's reporter only renames and says why a
    scenario skipped) and nslab's page needs only the names: junitparser (with lxml) is
    for merging the files of parallel workers and shards."""
    found = imported(["-c", "import nslab.behave.run_report, nslab.behave.junit_reporter"])
    assert {"nslab.behave.run_report", "nslab.behave.junit_reporter", "nslab.report.html"} <= found
    assert sorted({"junitparser", "lxml", "nslab.report.junit"} & found) == []
