"""The VM lane: a real VM booted by vagrant-libvirt on this machine, the manual lab checked
over SSH, and the whole suite through the vagrant target. Slow (minutes): `pytest -m vm`.

Safety: see tests/support/vmlane.py: libvirtd, vagrant and every SSH to the guest run inside
one world with no uplink; the root namespace is compared before/after.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import ROOT, count_scenarios, host_snapshot
from support import vmlane
from support.vmlane import Lane

pytestmark = pytest.mark.vm


@pytest.fixture(scope="module")
def lane() -> Iterator[Lane]:
    reason = vmlane.missing()
    if reason and os.environ.get("NSLAB_VM_REQUIRED") == "1":  # .ci/vm: must really run
        pytest.fail(reason)
    if reason:
        pytest.skip(reason)
    before = host_snapshot()
    with vmlane.lane(ROOT) as running:
        yield running
    assert host_snapshot() == before


def test_vagrantfile_validates() -> None:
    if shutil.which("vagrant") is None:
        if os.environ.get("NSLAB_VM_REQUIRED") == "1":  # .ci/vm installs it: must really run
            pytest.fail("vagrant is not installed")
        pytest.skip("vagrant is not installed (the VM lane, .ci/vm, installs it)")
    # Never vagrant from the machine's own namespace: a fresh, empty one (unshare -n) with no
    # checkpoint or box-update calls. --ignore-provider: the libvirt block needs a running
    # libvirtd, which only the VM lane (pytest -m vm) starts; that lane's `vagrant up` checks it.
    env = {**os.environ, "VAGRANT_CHECKPOINT_DISABLE": "1", "VAGRANT_BOX_UPDATE_CHECK_DISABLE": "1"}
    r = subprocess.run(
        ["unshare", "--net", "vagrant", "validate", "--ignore-provider"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    assert r.returncode == 0, r.stdout + r.stderr
    assert "validated successfully" in r.stdout


def test_the_scaffolds_vagrantfile_validates(tmp_path: Path) -> None:
    """`nslab init --vagrant`: the user's Vagrantfile finds the installed package's stages."""
    if shutil.which("vagrant") is None:
        if os.environ.get("NSLAB_VM_REQUIRED") == "1":
            pytest.fail("vagrant is not installed")
        pytest.skip("vagrant is not installed (the VM lane, .ci/vm, installs it)")
    subprocess.run(
        [sys.executable, "-m", "nslab.cli", "init", "--vagrant", str(tmp_path)],
        check=True,
        capture_output=True,
    )
    env = {**os.environ, "VAGRANT_CHECKPOINT_DISABLE": "1", "NSLAB_PYTHON": sys.executable}
    r = subprocess.run(
        ["unshare", "--net", "vagrant", "validate", "--ignore-provider"],
        cwd=tmp_path, capture_output=True, text=True, timeout=120, env=env,
    )  # fmt: skip
    assert r.returncode == 0 and "validated successfully" in r.stdout, r.stdout + r.stderr
    env["NSLAB_PYTHON"] = "/nonexistent/python"
    r = subprocess.run(["unshare", "--net", "vagrant", "validate", "--ignore-provider"], cwd=tmp_path,
                       capture_output=True, text=True, timeout=120, env=env)  # fmt: skip
    assert r.returncode != 0 and "nslab is not installed for /nonexistent/python" in r.stdout + r.stderr


# Runs beside vagrant in the lane: commands (a JSON object of name -> argv) on the guest over
# one vagrant-target connection; prints each one's output, as JSON.
ON_GUEST = r"""
import json, sys
from pathlib import Path
from nslab.machine.targets.vagrant import VagrantTarget
t = VagrantTarget.start(Path(sys.argv[1]), lifecycle="reuse")
out = {name: t.run(cmd, timeout=60).output for name, cmd in json.loads(sys.argv[2]).items()}
t.close()
print(json.dumps(out))
"""


def on_guest(lane: Lane, commands: dict[str, list[str]]) -> dict[str, str]:
    r = lane.run([sys.executable, "-c", ON_GUEST, str(ROOT), json.dumps(commands)], timeout=300, check=True)
    return json.loads(r.stdout.strip().splitlines()[-1])


CHECKS = {
    "ping": ["ip", "netns", "exec", "red", "ping", "-n", "-c", "3", "-i", "0.2", "10.16.0.3"],
    "navy": ["iptables", "-S", "NAVY"],
    "gateway": ["ip", "-br", "addr", "show", "br0"],
    "internet": ["ip", "netns", "exec", "red", "ping", "-n", "-c", "2", "-i", "0.2", "203.0.113.10"],
    "dns": ["ip", "netns", "exec", "red", "getent", "hosts", "www.example.test"],
}


def test_vagrant_up_gives_the_manual_lab(lane: Lane) -> None:
    out = on_guest(lane, CHECKS)
    assert "3 packets transmitted, 3 received, 0% packet loss" in out["ping"]
    assert "-A NAVY -s 10.16.0.0/24 -d 10.16.0.0/24 -j ACCEPT" in out["navy"]
    assert "10.16.0.1/24" in out["gateway"]
    assert "2 packets transmitted, 2 received" in out["internet"]
    assert out["dns"].split()[0] == "203.0.113.10"


# The managers' stories (ufw, firewalld, Docker on lab hosts) start daemons per scenario,
# which under QEMU TCG take seconds each: the suite runs without them, and the ufw+Docker
# story runs once, on its own (the box has ufw and Docker, not firewalld).
MANAGERS = ("-e", "features/(managers|docker)/")
UFW_DOCKER = "features/docker/04-ufw-denies-docker-publishes.feature"


def summary(stdout: str) -> tuple[int, int, int]:
    found = re.search(r"^(\d+) scenarios? passed, (\d+) failed, (\d+) skipped", stdout, re.M)
    assert found, stdout[-2000:]
    passed, failed, skipped = map(int, found.groups())
    return passed, failed, skipped


def test_the_suite_runs_through_the_vagrant_target(lane: Lane) -> None:
    behave = [sys.executable, "-m", "behave", "-f", "progress", "features/", *MANAGERS]
    options = ["target=vagrant", "vagrant=reuse", "ping_wait=0.5", "reports=reports/vm"]
    r = lane.run([*behave, *(x for o in options for x in ("-D", o))], timeout=1800)
    assert r.ok, r.output[-5000:]
    passed, failed, skipped = summary(r.stdout)
    assert (failed, skipped) == (0, 0)
    assert passed == count_scenarios("features/", *MANAGERS), "every scenario of features/ ran on the VM"


# Docker's processes by name (comm: 15 bytes, so containerd-shim-runc-v2 is containerd-shim)
DOCKER_PROCESSES = {"dockerd", "containerd", "containerd-shim", "docker-init", "tini"}
GUEST_LEFTOVERS = {
    "processes": ["ps", "-e", "-o", "comm="],
    "cgroups": ["find", "/sys/fs/cgroup", "-maxdepth", "2", "-name", "nslab-docker-*"],
}


def test_the_ufw_and_docker_story_runs_on_the_vm_and_leaves_nothing(lane: Lane) -> None:
    """ufw and dockerd on a lab host inside a world on the VM, through the vagrant target:
    every scenario runs (a box without them would skip), and no daemon or cgroup of
    Docker's is left on the guest."""
    options = ["target=vagrant", "vagrant=reuse", "ping_wait=0.5", "reports=reports/vm-docker"]
    behave = [sys.executable, "-m", "behave", "-f", "plain", UFW_DOCKER]
    r = lane.run([*behave, *(x for o in options for x in ("-D", o))], timeout=900)
    assert r.ok, r.output[-5000:]
    assert summary(r.stdout) == (count_scenarios(UFW_DOCKER), 0, 0), r.output[-5000:]
    assert "(made by Docker)" in r.stdout and "(made by ufw)" in r.stdout, r.stdout[-3000:]
    left = on_guest(lane, GUEST_LEFTOVERS)
    assert "sshd" in left["processes"].split(), left["processes"]  # ps listed the guest's processes
    assert not DOCKER_PROCESSES & set(left["processes"].split()), left["processes"]
    assert left["cgroups"] == "", left["cgroups"]


ROOT_NAMESPACE = {
    "links": ["ip", "-o", "link"],
    "netns": ["ip", "netns", "list"],
    "rules": ["iptables", "-S"],
}


def test_a_host_scenario_runs_on_the_vms_root_namespace_and_is_torn_down(lane: Lane) -> None:
    # `vagrant up` built the manual lab on the VM's root namespace: the @host scenario's
    # world is that namespace, so it finds the lab there and removes it first
    assert " br0:" in on_guest(lane, ROOT_NAMESPACE)["links"]
    feature = "tests/features/host-scenario.feature"
    options = ["target=vagrant", "vagrant=reuse", "ping_wait=0.5", "reports=reports/vm-host"]
    r = lane.run(
        [sys.executable, "-m", "behave", "-f", "plain", feature, *(x for o in options for x in ("-D", o))],
        timeout=600,
    )
    assert r.ok and "1 scenario passed, 0 failed, 0 skipped" in r.stdout, r.output[-5000:]
    after = on_guest(lane, ROOT_NAMESPACE)
    assert " br0:" not in after["links"] and "veth0-red" not in after["links"], after["links"]
    assert after["netns"].strip() == "", after["netns"]
    assert "NAVY" not in after["rules"] and "-P FORWARD ACCEPT" in after["rules"], after["rules"]


DMZ_CHECKS = {
    "web4": ["ip", "netns", "exec", "pc", "ping", "-n", "-c", "2", "-i", "0.2", "10.2.0.10"],
    "web6": ["ip", "netns", "exec", "pc", "ping", "-n", "-c", "2", "-i", "0.2", "2001:db8:2::10"],
    "internet": ["ip", "netns", "exec", "pc", "ping", "-n", "-c", "2", "-i", "0.2", "203.0.113.10"],
    "route": ["ip", "netns", "exec", "web", "ip", "-4", "route", "show", "default"],
    "nft": ["ip", "netns", "exec", "edge", "nft", "list", "ruleset"],
    "forwarding": ["ip", "netns", "exec", "pc", "sysctl", "-n", "net.ipv4.ip_forward"],
}


def test_nslab_lab_picks_another_lab_for_the_manual_vm(lane: Lane) -> None:
    """`NSLAB_LAB=labs/dmz.toml vagrant provision` (as `vagrant up` would) builds the routed
    dmz lab, its nft ruleset included, on the VM's root namespace; asking for another lab
    while it is up is refused in one line. Runs after the @host test left the VM clean."""
    r = lane.run(["env", "NSLAB_LAB=labs/dmz.toml", "vagrant", "provision"], timeout=600)
    assert r.ok and "lab 'dmz' is up" in r.output, r.output[-3000:]
    out = on_guest(lane, DMZ_CHECKS)
    assert "2 packets transmitted, 2 received" in out["web4"], out["web4"]
    assert "2 packets transmitted, 2 received" in out["web6"], out["web6"]
    assert "2 packets transmitted, 2 received" in out["internet"], out["internet"]
    assert out["route"].startswith("default via 10.2.0.1 dev eth0"), out["route"]
    assert "table inet edge" in out["nft"] and "dnat to 10.2.0.10:80" in out["nft"], out["nft"]
    assert out["forwarding"].strip() == "0", "pc is no router"
    r = lane.run(["env", "NSLAB_LAB=labs/seed.toml", "vagrant", "provision"], timeout=600)
    assert not r.ok and "lab 'dmz' is up on this VM" in r.output, r.output[-3000:]
