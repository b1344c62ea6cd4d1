"""A behave run killed or interrupted mid-scenario leaves nothing: no namespace, link or process."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import HERE_FEATURES, ROOT, host_snapshot, needs_netns
from support.procs import alive, comm, descendants, wait_gone

pytestmark = needs_netns


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGINT, signal.SIGTERM], ids=["KILL", "INT", "TERM"])
def test_a_signal_mid_scenario_leaves_nothing(tmp_path: Path, sig: signal.Signals) -> None:
    """KILL: the worlds die with the run. INT (Ctrl-C) and TERM (a cancelled CI job): behave
    stops cleanly, exits non-zero, and its JUnit and page mark the interrupted scenario."""
    before = host_snapshot()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "behave",
            "--no-capture",
            "-D",
            f"reports={tmp_path}",
            "-D",
            f"html={tmp_path}/index.html",
            "--junit-directory",
            str(tmp_path / "junit"),
            str(HERE_FEATURES / "long-running.feature"),
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert proc.stdout is not None
        deadline = time.monotonic() + 60
        world_procs: set[int] = set()
        while time.monotonic() < deadline:
            world_procs = descendants(proc.pid)
            names = {comm(p) for p in world_procs if alive(p)}
            if {"dnsmasq", "sleep"} <= names:
                break
            time.sleep(0.05)
        assert {"dnsmasq", "sleep"} <= names, f"the scenario never got going: {names}"
        ns_inodes = {os.readlink(f"/proc/{p}/ns/net") for p in world_procs if alive(p)}
        assert ns_inodes, "no world processes found"
    finally:
        proc.send_signal(sig)
        out, _ = proc.communicate(timeout=60)
    assert proc.returncode != 0
    assert not wait_gone(world_procs), "world processes outlived the killed run"
    if sig != signal.SIGKILL:
        assert "ABORTED: By user." in out
        junit = (tmp_path / "junit" / "TESTS-tests.features.long-running.xml").read_text()
        assert 'status="error"' in junit and "KeyboardInterrupt" in junit
        page = (tmp_path / "index.html").read_text()
        assert "the full lab, then a long wait" in page

    # no process anywhere is still in one of the world's network namespaces (a process the
    # world's end killed may take a moment to go on a loaded machine: seen at load 8, once)
    def in_world() -> list[str]:
        left = []
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                try:
                    if os.readlink(entry / "ns" / "net") in ns_inodes and alive(int(entry.name)):
                        left.append(f"{entry.name} ({comm(int(entry.name))})")
                except OSError:
                    pass
        return left

    deadline = time.monotonic() + 10
    while in_world() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not in_world()
    assert host_snapshot() == before
