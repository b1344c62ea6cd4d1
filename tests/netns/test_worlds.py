"""Worlds on the real kernel: isolation, clean ends, death with their owner."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from conftest import host_snapshot, needs_netns
from support.procs import alive, wait_gone

from nslab.machine.targets.local import LocalTarget
from nslab.machine.world import World, WorldInfo

pytestmark = needs_netns


def gone(pid: int, within: float = 5.0) -> bool:
    return not wait_gone([pid], within)


def world_pids(holder: int) -> list[int]:
    """Processes in the world's PID namespace, seen from the host (the holder excluded)."""
    ns = os.readlink(f"/proc/{holder}/ns/pid")
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and int(entry.name) != holder:
            try:
                if os.readlink(entry / "ns" / "pid") == ns and alive(int(entry.name)):
                    found.append(int(entry.name))
            except OSError:
                pass
    return found


def test_world_is_isolated_from_the_host() -> None:
    before = host_snapshot()
    with World.start(LocalTarget()) as w:
        w.run(["ip", "link", "add", "br0", "type", "bridge"], check=True)
        w.run(["ip", "netns", "add", "red"], check=True)
        w.run(["iptables", "-P", "FORWARD", "DROP"], check=True)
        w.run(["sysctl", "-qw", "net.ipv4.ip_forward=1"], check=True)
        assert "br0" in w.run(["ip", "-o", "link"]).stdout
        assert "red" in w.run(["ip", "netns", "list"]).stdout
        assert host_snapshot() == before
    assert host_snapshot() == before


def test_closing_a_world_ends_every_process_in_it() -> None:
    w = World.start(LocalTarget())
    w.run(["ip", "netns", "add", "red"], check=True)
    # a daemon in a lab namespace, as dnsmasq is: it must not outlive the world
    w.run(["ip", "netns", "exec", "red", "sh", "-c", "sleep 300 >/dev/null 2>&1 &"], check=True)
    holder = w.info.pid
    sleeps = world_pids(holder)
    assert sleeps, "the background sleep did not start in the world"
    w.close()
    assert gone(holder)
    assert all(gone(p) for p in sleeps)


def test_timeout_kills_the_command_inside_the_world() -> None:
    with World.start(LocalTarget()) as w:
        start = time.monotonic()
        r = w.run(["sleep", "30"], timeout=0.3)
        assert r.timed_out and not r.ok
        assert time.monotonic() - start < 5
        deadline = time.monotonic() + 2
        while world_pids(w.info.pid) and time.monotonic() < deadline:
            time.sleep(0.02)
        assert world_pids(w.info.pid) == []


def test_world_dies_with_its_owner_on_sigkill(tmp_path: Path) -> None:
    """The owner process is killed with -9: the kernel ends its world (PDEATHSIG)."""
    script = tmp_path / "owner.py"
    script.write_text(
        textwrap.dedent("""
        import sys, time
        from nslab.machine.targets.local import LocalTarget
        from nslab.machine.world import World
        w = World.start(LocalTarget())
        w.run(["ip", "netns", "add", "red"], check=True)
        print(w.info.pid, flush=True)
        time.sleep(300)
    """)
    )
    owner = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True)
    try:
        assert owner.stdout is not None
        holder = int(owner.stdout.readline())
        assert Path(f"/proc/{holder}").exists()
    finally:
        owner.send_signal(signal.SIGKILL)
        owner.wait()
    assert gone(holder)


# Makes a persistent world, marks it, prints its info and exits: the world must outlive it.
CREATOR = r"""
import json
from nslab.machine.targets.local import LocalTarget
from nslab.machine.world import World
w = World.start(LocalTarget(), persistent=True)
w.run(["ip", "link", "add", "made-by-creator", "type", "bridge"], check=True)
print(json.dumps({"pid": w.info.pid, "starttime": w.info.starttime, "userns": w.info.userns}))
"""


def test_persistent_world_survives_its_creator_and_attaches() -> None:
    creator = subprocess.run([sys.executable, "-c", CREATOR], capture_output=True, text=True, timeout=30)
    assert creator.returncode == 0, creator.stderr
    info = WorldInfo(**json.loads(creator.stdout))
    target = LocalTarget()
    w = World.attach(target, info)  # the creator has exited; the world lives on
    try:
        assert w.alive()
        assert "made-by-creator" in w.run(["ip", "-o", "link"], check=True).stdout
    finally:
        w.close()
    assert gone(info.pid)
    with pytest.raises(Exception, match="no longer running"):
        World.attach(target, info)


def zombies_of(pid: int) -> list[int]:
    """Children of `pid` that exited and were never reaped."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except (OSError, IndexError):
                continue
            if fields[0] == "Z" and int(fields[1]) == pid:
                found.append(int(entry.name))
    return found


@pytest.mark.parametrize("persistent", [False, True], ids=["scenario", "persistent"])
def test_world_reaps_orphans_of_daemons(persistent: bool) -> None:
    # A daemon's double fork leaves orphans that PID 1 inherits; unreaped, they stay
    # zombies, and libvirtd waits forever for its probe processes to vanish.
    w = World.start(LocalTarget(), persistent=persistent)
    try:
        # two orphans, as a daemon's double fork leaves (output closed, or run() waits)
        w.run(["sh", "-c", "(sleep 0.3 >/dev/null 2>&1 &); (sleep 0.3 >/dev/null 2>&1 &)"], check=True)
        assert len(w.run(["pgrep", "-x", "-P", "1", "sleep"]).stdout.split()) >= 2, "no orphans to reap"
        time.sleep(0.8)  # both orphans have exited by now
        assert zombies_of(w.info.pid) == []
    finally:
        w.close()


def test_every_runner_enters_a_lab_namespace_the_same_way() -> None:
    """One commands protocol: `run(cmd, ns=NAME)` on a target and on a world on it is
    `ip netns exec NAME cmd`, logged as such; on the machine itself only a missing name is
    tried (tests never add a namespace to the machine's root namespace)."""
    from nslab.commands import Runner, as_argv

    assert as_argv(["ping", "-c", "1", "x"], "red") == ["ip", "netns", "exec", "red", "ping", "-c", "1", "x"]
    assert as_argv("echo hi", None) == ["bash", "-euo", "pipefail", "-c", "echo hi"]
    before = host_snapshot()
    target = LocalTarget()
    assert isinstance(target, Runner)
    r = target.run(["true"], ns="nslab-no-such-ns")
    assert not r.ok and 'Cannot open network namespace "nslab-no-such-ns"' in r.stderr, r.output
    assert r.command == "ip netns exec nslab-no-such-ns true"
    with World.start(target) as world:
        assert isinstance(world, Runner)
        world.run(["ip", "netns", "add", "red"], check=True)
        r = world.run(["ip", "-br", "link"], ns="red", check=True)
        assert r.stdout.split()[0] == "lo" and len(r.stdout.splitlines()) == 1, r.stdout
        assert r.command == "ip netns exec red ip -br link"
        assert world.run(["true"], ns="nslab-no-such-ns").rc != 0
    assert host_snapshot() == before
