"""The VM lane: a real VM booted by vagrant-libvirt on this machine, the manual lab checked
over SSH, and the whole suite through the vagrant target. Slow (minutes): `pytest -m vm`.

Safety (DESIGN.md): libvirtd, virtlogd, vagrant, python-vagrant and every SSH connection
to the guest run inside ONE world (a network namespace with no uplink, its own /run), and
the management network is isolated (mode none). Ending the world ends them all; the box
volume uploaded into libvirt's pool is deleted. The root namespace is compared before/after.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import ROOT, host_snapshot

from nslab.targets.local import LocalTarget
from nslab.world import World

pytestmark = pytest.mark.vm
CACHE = Path(os.environ.get("NSLAB_CACHE", Path.home() / ".cache" / "nslab"))
BOX_NAME = "nslab/debian12"


def missing() -> str | None:
    if os.geteuid() != 0:
        return "needs root"
    for tool in ("vagrant", "libvirtd", "virtlogd", "qemu-system-x86_64", "mmdebstrap", "virsh"):
        if shutil.which(tool) is None:
            return (
                f"{tool} is not installed (apt-get install vagrant vagrant-libvirt libvirt-daemon-system "
                "qemu-system-x86 mmdebstrap qemu-utils)"
            )
    stale = subprocess.run(["pgrep", "-x", "libvirtd"], capture_output=True, text=True).stdout.split()
    if stale:
        return f"a libvirtd is already running (pids {' '.join(stale)}); only one can run per machine"
    return None


def lane_env(box_path: Path) -> dict[str, str]:
    return {
        "VAGRANT_CWD": str(ROOT),
        # not under /root: libvirt's qemu user must read the box's kernel and initrd there
        "VAGRANT_HOME": os.environ.get("NSLAB_VAGRANT_HOME", "/var/cache/nslab/vagrant.d"),
        "VAGRANT_DEFAULT_PROVIDER": "libvirt",
        "VAGRANT_CHECKPOINT_DISABLE": "1",
        "VAGRANT_BOX_UPDATE_CHECK_DISABLE": "1",
        "LIBVIRT_DEFAULT_URI": "qemu:///system",
        "NSLAB_BOX": BOX_NAME,
        "NSLAB_LIBVIRT_DRIVER": "qemu",  # /dev/kvm here does not run ordinary guests: TCG
        "NSLAB_LIBVIRT_MGMT_MODE": "none",  # isolated management network
        "NSLAB_INSERT_KEY": "0",
        "NSLAB_MEMORY": "768",
        "NSLAB_CPUS": "2",
    }


@pytest.fixture(scope="module")
def lane() -> Iterator[tuple[World, dict[str, str]]]:
    reason = missing()
    if reason:
        pytest.skip(reason)
    before = host_snapshot()
    box = CACHE / "box" / "nslab-debian12.box"
    subprocess.run(
        ["bash", str(ROOT / "provision" / "box" / "build-debian-box.sh"), str(box.parent)],
        check=True,
        timeout=900,
    )
    world = World.start(LocalTarget())
    env = lane_env(box)
    try:
        world.run(["sh", "-c", "mkdir -p /run/libvirt && virtlogd -d && libvirtd -d"], check=True, timeout=60)
        world.run(
            [
                "sh",
                "-c",
                "for i in $(seq 100); do [ -S /run/libvirt/libvirt-sock ] && exit 0; sleep 0.1; done; exit 1",
            ],
            check=True,
            timeout=30,
        )
        # --force: the cached box may have been rebuilt since it was last added
        world.run(
            ["vagrant", "box", "add", "--force", "--name", BOX_NAME, str(box)], env=env, check=True, timeout=600
        )
        up = world.run(
            ["vagrant", "up", "--provider=libvirt"], env={**env, "NSLAB_VM_LAB": "1"}, timeout=1200
        )
        assert up.ok, up.output[-4000:]
        yield world, env
    finally:
        world.run(["vagrant", "destroy", "-f"], env=env, timeout=300)
        vols = world.run(["virsh", "vol-list", "--pool", "default"], timeout=60).stdout
        for line in vols.splitlines():
            name = line.split()[0] if line.split() else ""
            if name.startswith("nslab-VAGRANTSLASH-debian12"):  # the box volume this lane uploaded
                world.run(["virsh", "vol-delete", "--pool", "default", name], timeout=60)
        world.close()  # libvirtd, virtlogd, qemu and every ssh to the guest end with it
        assert host_snapshot() == before


CHECKS = r"""
import json, sys
from pathlib import Path
from nslab.targets.vagrant import VagrantTarget
t = VagrantTarget.start(Path(sys.argv[1]), lifecycle="reuse")
out = {}
for name, cmd in {
    "ping": ["ip", "netns", "exec", "red", "ping", "-n", "-c", "3", "-i", "0.2", "10.16.0.3"],
    "navy": ["iptables", "-S", "NAVY"],
    "gateway": ["ip", "-br", "addr", "show", "br0"],
    "internet": ["ip", "netns", "exec", "red", "ping", "-n", "-c", "2", "-i", "0.2", "203.0.113.10"],
    "dns": ["ip", "netns", "exec", "red", "getent", "hosts", "www.example.test"],
}.items():
    r = t.run(cmd, timeout=60)
    out[name] = r.output
t.close()
print(json.dumps(out))
"""


def test_vagrant_up_gives_the_manual_lab(lane: tuple[World, dict[str, str]]) -> None:
    world, env = lane
    r = world.run([sys.executable, "-c", CHECKS, str(ROOT)], env=env, timeout=300, check=True)
    out = json.loads(r.stdout.strip().splitlines()[-1])
    assert "3 packets transmitted, 3 received, 0% packet loss" in out["ping"]
    assert "-A NAVY -s 10.16.0.0/24 -d 10.16.0.0/24 -j ACCEPT" in out["navy"]
    assert "10.16.0.1/24" in out["gateway"]
    assert "2 packets transmitted, 2 received" in out["internet"]
    assert out["dns"].split()[0] == "203.0.113.10"


def test_the_suite_runs_through_the_vagrant_target(lane: tuple[World, dict[str, str]]) -> None:
    world, env = lane
    r = world.run(
        [
            sys.executable,
            "-m",
            "behave",
            "-f",
            "progress",
            "-D",
            "target=vagrant",
            "-D",
            "vagrant=reuse",
            "-D",
            "ping_wait=0.5",
            str(ROOT / "features"),
        ],
        env=env,
        timeout=1800,
    )
    assert r.ok, r.output[-5000:]
    assert " 0 failed" in r.stdout
