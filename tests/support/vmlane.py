"""The VM lane: a real VM booted by vagrant-libvirt on this machine, shared by the VM tests
(`pytest -m vm`) and bench/bench_vagrant.py.

Safety (docs/design.md): libvirtd, virtlogd, vagrant, python-vagrant and every SSH connection
to the guest run inside ONE world (a network namespace with no uplink, its own /run and
/proc), and the management network is isolated (mode none). Ending the world ends them
all; the box volume uploaded into libvirt's pool is deleted on the way out.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from nslab.commands import Result
from nslab.machine.targets.local import LocalTarget
from nslab.machine.world import World

BOX_NAME = "nslab/debian12"
BOX_VOLUME_PREFIX = "nslab-VAGRANTSLASH-debian12"
PACKAGES = "vagrant vagrant-libvirt libvirt-daemon-system qemu-system-x86 qemu-utils mmdebstrap"
TOOLS = ("vagrant", "libvirtd", "virtlogd", "qemu-system-x86_64", "mmdebstrap", "virsh")


def cache_dir() -> Path:
    return Path(os.environ.get("NSLAB_CACHE", Path.home() / ".cache" / "nslab"))


def missing() -> str | None:
    """Why the lane cannot run on this machine, or None."""
    if os.geteuid() != 0:
        return "the VM lane needs root"
    for tool in TOOLS:
        if shutil.which(tool) is None:
            return f"{tool} is not installed (apt-get install {PACKAGES})"
    stale = subprocess.run(["pgrep", "-x", "libvirtd"], capture_output=True, text=True).stdout.split()
    if stale:
        return f"a libvirtd is already running (pids {' '.join(stale)}); the lane starts its own"
    return None


def lane_env(root: Path) -> dict[str, str]:
    """Environment for vagrant in the lane: the offline box under QEMU TCG (or KVM where
    NSLAB_LIBVIRT_DRIVER=kvm says it works, as on the nightly runners), no key swap."""
    driver = os.environ.get("NSLAB_LIBVIRT_DRIVER", "qemu")  # /dev/kvm here runs no guests
    return {
        "VAGRANT_CWD": str(root),
        # not under /root: libvirt's qemu user must read the box's kernel and initrd there
        "VAGRANT_HOME": os.environ.get("NSLAB_VAGRANT_HOME", "/var/cache/nslab/vagrant.d"),
        "VAGRANT_DEFAULT_PROVIDER": "libvirt",
        "VAGRANT_CHECKPOINT_DISABLE": "1",
        "VAGRANT_BOX_UPDATE_CHECK_DISABLE": "1",
        "LIBVIRT_DEFAULT_URI": "qemu:///system",
        "NSLAB_BOX": BOX_NAME,
        "NSLAB_LIBVIRT_DRIVER": driver,
        "NSLAB_LIBVIRT_MGMT_MODE": "none",  # isolated management network
        # under TCG a plain model: the host's (EPYC here) makes QEMU emulate every feature
        "NSLAB_LIBVIRT_CPU_MODEL": os.environ.get(
            "NSLAB_LIBVIRT_CPU_MODEL", "qemu64" if driver == "qemu" else ""
        ),
        "NSLAB_INSERT_KEY": "0",
        "NSLAB_MEMORY": "768",
        "NSLAB_CPUS": "2",
    }


@dataclass
class Lane:
    """A world running libvirt, with the repo's Vagrantfile up inside it."""

    world: World
    env: dict[str, str]
    root: Path
    timings: dict[str, float] = field(default_factory=dict)

    def run(self, argv: list[str], *, timeout: float, check: bool = False) -> Result:
        """Run `argv` beside libvirt and vagrant (the world's root namespace), with the lane's
        env, from the checkout (entering a mount namespace leaves a process in /)."""
        wrapped = ["sh", "-c", 'cd "$1" && shift && exec "$@"', "in-checkout", str(self.root), *argv]
        return self.world.run(wrapped, env=self.env, timeout=timeout, check=check)


def last_lines(output: str, count: int = 30) -> str:
    """vagrant's last lines, without its in-place progress counters."""
    lines = [re.split(r"\r|\x1b\[K", line)[-1] for line in output.splitlines()]
    return "\n".join([line for line in lines if line.strip() and "Progress:" not in line][-count:])


def log(message: str) -> None:
    print(f"vm-lane: {message}", flush=True)


def build_box(root: Path) -> Path:
    """Build the offline Debian 12 box, or reuse the cached one."""
    box = cache_dir() / "box" / "nslab-debian12.box"
    subprocess.run(
        ["bash", str(root / "provision" / "box" / "build-debian-box.sh"), str(box.parent)],
        check=True,
        timeout=900,
    )
    return box


@contextmanager
def lane(root: Path) -> Iterator[Lane]:
    """Start libvirt in a fresh world, add the box, `vagrant up`; undo all of it on exit."""
    box = build_box(root)
    # libvirtd and vagrant write the machine's own files (/var/lib/libvirt, ~/.vagrant.d):
    # this world keeps the host's file system writable; its network stays its own.
    world = World.start(LocalTarget(), host_fs="rw")
    env = lane_env(root)
    timings: dict[str, float] = {}
    try:
        log("starting virtlogd and libvirtd inside the world")
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
        log(f"adding {box.name} as {BOX_NAME}")
        # --force: the cached box may have been rebuilt since it was last added
        world.run(
            ["vagrant", "box", "add", "--force", "--name", BOX_NAME, str(box)],
            env=env,
            check=True,
            timeout=600,
        )
        log(f"vagrant up --provider=libvirt (driver {env['NSLAB_LIBVIRT_DRIVER']}; minutes under TCG)")
        start = time.perf_counter()
        up = world.run(
            ["vagrant", "up", "--provider=libvirt"], env={**env, "NSLAB_VM_LAB": "1"}, timeout=1200
        )
        timings["vagrant_up"] = time.perf_counter() - start
        if not up.ok:
            raise RuntimeError(f"vagrant up failed:\n{last_lines(up.output)}")
        log(f"up in {timings['vagrant_up']:.0f} s")
        yield Lane(world, env, root, timings)
    finally:
        log("vagrant destroy -f; deleting the uploaded box volume; ending the world")
        world.run(["vagrant", "destroy", "-f"], env=env, timeout=300)
        vols = world.run(["virsh", "vol-list", "--pool", "default"], timeout=60).stdout
        for line in vols.splitlines():
            name = line.split()[0] if line.split() else ""
            if name.startswith(BOX_VOLUME_PREFIX):
                world.run(["virsh", "vol-delete", "--pool", "default", name], timeout=60)
        world.close()  # libvirtd, virtlogd, qemu and every ssh to the guest end with it
