"""kill -9 of a behave run mid-scenario leaves nothing: no namespace, link or process."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from conftest import ROOT, host_snapshot, needs_netns

from nslab.testing.procs import alive, comm, descendants, wait_gone

pytestmark = needs_netns


def test_sigkill_mid_scenario_leaves_nothing(tmp_path: Path) -> None:
    before = host_snapshot()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "behave",
            "--no-capture",
            "-D",
            f"reports={tmp_path}",
            str(Path(__file__).parent / "features" / "long-running.feature"),
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
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    assert not wait_gone(world_procs), "world processes outlived the killed run"
    # no process anywhere is still in one of the world's network namespaces
    left = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if os.readlink(entry / "ns" / "net") in ns_inodes and alive(int(entry.name)):
                    left.append(entry.name)
            except OSError:
                pass
    assert not left
    assert host_snapshot() == before
