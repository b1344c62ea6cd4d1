"""ufw and firewalld on lab hosts, for real (issue 29): each runs in its host's namespaces
on its own copy of its configuration, firewalld on a private bus; nothing of the machine
changes (its rules, /etc/ufw, /etc/firewalld, its bus, its cgroups), and no daemon
outlives the world, even after a kill -9 of the run."""

from __future__ import annotations

import hashlib
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT, host_snapshot, needs_netns
from support.procs import alive, comm, descendants, wait_gone

from nslab.errors import LabError
from nslab.lab import load_lab
from nslab.machine.provision import provision, teardown
from nslab.machine.targets.local import LocalTarget
from nslab.machine.world import World
from nslab.managers.common import command_owner, host_argv, host_dir

LAB = ROOT / "features" / "managers" / "labs" / "managers.toml"
needs_managers = pytest.mark.skipif(
    not all(shutil.which(t) for t in ("ufw", "firewalld", "firewall-cmd", "dbus-daemon")),
    reason="needs ufw and firewalld (apt-get install ufw firewalld; .ci/setup does)",
)


def machine() -> dict[str, str]:
    """What a manager must never touch: the root namespace (host_snapshot and nft), the
    machine's /etc/ufw, /etc/default/ufw, /etc/firewalld, its system bus, its cgroups."""
    snap = host_snapshot()
    snap["nft"] = subprocess.run(["nft", "list", "ruleset"], capture_output=True, text=True).stdout
    for top in (Path("/etc/ufw"), Path("/etc/firewalld"), Path("/etc/default/ufw")):
        files = sorted(p for p in ([top] if top.is_file() else top.rglob("*")) if p.is_file())
        snap[str(top)] = "\n".join(f"{p} {hashlib.sha256(p.read_bytes()).hexdigest()}" for p in files)
    snap["bus"] = str(sorted(Path("/run/dbus").iterdir()) if Path("/run/dbus").is_dir() else "none")
    snap["cgroups"] = str(sorted(p.name for p in Path("/sys/fs/cgroup").iterdir()))
    return snap


def daemons(world: World) -> list[int]:
    """The world's firewalld and dbus-daemon, by their PIDs on the machine."""
    return [p for p in descendants(world.info.pid) if comm(p) in ("firewalld", "dbus-daemon")]


@needs_netns
@needs_managers
def test_managers_run_in_their_hosts_only_and_leave_the_machine_as_it_was() -> None:
    before = machine()
    lab = load_lab(LAB)
    web, gw, client = (lab.namespace(n) for n in ("web", "gw", "client"))
    with World.start(LocalTarget()) as world:
        provision(world, lab)
        status = world.run(host_argv(lab, web, ["ufw", "status"]), check=True).stdout
        assert "Status: active" in status and "22/tcp" in status
        assert (
            world.run(host_argv(lab, gw, ["firewall-cmd", "--state"]), check=True).stdout.strip() == "running"
        )
        # each manager's rules are in its host alone
        assert "table inet firewalld" in world.run(["nft", "list", "tables"], ns="gw").stdout
        for ns in (None, "client", "web"):
            assert "firewalld" not in world.run(["nft", "list", "tables"], ns=ns).stdout
        for ns in (None, "client", "gw"):
            assert "ufw-" not in world.run(["iptables-save"], ns=ns).stdout
        # the host's /etc is its copy (the package's defaults and the lab's folder) ...
        zone = world.run(host_argv(lab, gw, ["cat", "/etc/firewalld/zones/public.xml"]), check=True).stdout
        assert 'port="8443"' in zone
        user = world.run(host_argv(lab, web, ["cat", "/etc/ufw/user.rules"]), check=True).stdout
        assert "--dport 22 -j ACCEPT" in user
        # ... and the only system bus gw sees is its own: the socket in its folder
        inode = ["stat", "-L", "-c", "%i", "/run/dbus/system_bus_socket"]
        own = world.run(["stat", "-L", "-c", "%i", f"{host_dir('gw')}/dbus/system_bus_socket"], check=True)
        assert world.run(host_argv(lab, gw, inode), check=True).stdout == own.stdout
        # no system bus at all in the world itself, nor in a host without firewalld
        assert not world.run(["test", "-e", "/run/dbus/system_bus_socket"]).ok
        assert not world.run(host_argv(lab, client, ["test", "-e", "/run/dbus/system_bus_socket"])).ok
        running = daemons(world)
        assert sorted(comm(p) for p in running) == ["dbus-daemon", "firewalld"]
        root_net = os.readlink("/proc/self/ns/net")
        assert all(os.readlink(f"/proc/{p}/ns/net") != root_net for p in running)
    assert not wait_gone(running), "a manager's daemon outlived its world"
    assert machine() == before


@needs_netns
@needs_managers
@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGINT], ids=["KILL", "INT"])
def test_a_killed_run_leaves_no_daemon(tmp_path: Path, sig: signal.Signals) -> None:
    """kill -9 (or Ctrl-C) of the process that holds the world: its PID namespace ends
    every daemon."""
    script = (
        "import sys\n"
        "from nslab.lab import load_lab\n"
        "from nslab.machine.provision import provision\n"
        "from nslab.machine.targets.local import LocalTarget\n"
        "from nslab.machine.world import World\n"
        "w = World.start(LocalTarget())\n"
        f"provision(w, load_lab({str(LAB)!r}))\n"
        "print(w.info.pid, flush=True)\n"
        "sys.stdin.read()\n"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", script], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=ROOT
    )
    try:
        assert proc.stdout is not None
        holder = int(proc.stdout.readline())
        running = [p for p in descendants(holder) if comm(p) in ("firewalld", "dbus-daemon")]
        assert len(running) == 2 and all(alive(p) for p in running)
    finally:
        proc.send_signal(sig)
        proc.wait(30)
    assert not wait_gone([holder, *running]), "the world or a manager's daemon outlived a kill -9"


def test_a_managers_command_on_a_host_without_it_names_the_hosts_that_run_it() -> None:
    lab = load_lab(LAB)
    with pytest.raises(LabError) as err:
        command_owner(lab, "client", ["ufw", "status"])
    assert err.value.problem == "client does not run ufw, so `ufw` has nothing to manage there"
    assert err.value.fix == "run it on a host that does: web"
    with pytest.raises(LabError) as err:
        command_owner(lab, "web", ["/usr/bin/firewall-cmd", "--reload"])
    assert "web does not run firewalld" in err.value.problem and (err.value.fix or "").endswith(": gw")
    command_owner(lab, "gw", ["firewall-cmd", "--reload"])  # its own manager: fine
    command_owner(lab, "client", ["ip", "route"])  # any other command: fine


@needs_netns
@needs_managers
def test_teardown_ends_the_managers_daemons() -> None:
    """On a real root namespace (`@host`, Vagrant) no PID namespace ends them: teardown.sh
    does, by the PIDs the managers stage kept. Run here in a world, as its machine."""
    lab = load_lab(LAB)
    with World.start(LocalTarget()) as world:
        provision(world, lab)
        running = daemons(world)
        assert len(running) == 2
        holders = [p for p in descendants(world.info.pid) if comm(p) == "sleep"]
        assert len(holders) == 2  # web's and gw's mount namespaces
        teardown(world, lab)
        assert not wait_gone([*running, *holders]), "teardown left a manager's process"
        assert not world.run(["test", "-e", host_dir("gw")]).ok
