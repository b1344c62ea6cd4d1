"""Worlds made from inside a chroot (as schroot or sbuild hosts run their agents): commands
keep the chroot as their root, and a chroot that cannot hold a mount namespace is refused
with one line. Each chroot is built in a private mount namespace of its own (unshare -m),
from bind mounts of this machine's directories, so nothing is mounted on the machine."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import ROOT, needs_netns

pytestmark = needs_netns

# In a world made inside the chroot: what /mnt holds (a marker only the chroot has) and
# whether a lab namespace works.
INSIDE = """
from nslab.machine.targets.local import LocalTarget
from nslab.errors import NslabError
from nslab.machine.world import World
try:
    with World.start(LocalTarget()) as w:
        mnt = w.run(["ls", "/mnt"]).output.strip()
        print("mnt:", mnt)
        # Only inside the chroot: a command that escaped to the real root would make its
        # namespace file in the machine's own /run/netns (the bug this guards against).
        if mnt == "only-in-the-chroot":
            r = w.run(["sh", "-c", "ip netns add red && ip netns exec red ip -br link show lo"])
            print("lab:", r.output.split()[0] if r.ok else r.output)
except NslabError as exc:
    print("error:", exc)
"""

# $1: the chroot folder; $2: "mounted" (the chroot is a bind mount of /, as schroot makes
# it) or "plain" (a plain directory of bind-mounted top-level folders: / is no mount point).
BUILD = r"""
set -eu
root=$1
if [ "$2" = mounted ]; then
  mount --rbind / "$root"
else
  for entry in /*; do
    name=${entry#/}
    if [ -L "$entry" ]; then ln -s "$(readlink "$entry")" "$root/$name"; continue; fi
    [ -d "$entry" ] || continue
    mkdir "$root/$name"
    mount --rbind "$entry" "$root/$name"
  done
fi
mount -t tmpfs nslab-marker "$root/mnt"
touch "$root/mnt/only-in-the-chroot"
cd /
exec chroot "$root" env PYTHONPATH="$3" "$4" -c "$5"
"""


@pytest.fixture
def chroot_dir() -> Iterator[Path]:
    folder = Path(tempfile.mkdtemp(prefix="nslab-chroot-", dir="/var/tmp"))
    yield folder
    # Its mounts lived only in the unshare'd namespace, gone now: only empty folders and
    # symlinks remain. Never remove through a mount that is still there.
    assert str(folder) not in Path("/proc/self/mountinfo").read_text()
    shutil.rmtree(folder)


def in_chroot(folder: Path, kind: str) -> str:
    src = str(Path(__import__("nslab").__file__).resolve().parents[1])
    r = subprocess.run(
        [
            "unshare",
            "--mount",
            "--propagation",
            "private",
            "bash",
            "-c",
            BUILD,
            "build",
            str(folder),
            kind,
            src,
            sys.executable,
            INSIDE,
        ],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
        env={**os.environ},
    )
    assert r.returncode == 0, r.stdout + r.stderr
    return r.stdout


def test_commands_in_a_world_keep_the_chroot_as_their_root(chroot_dir: Path) -> None:
    out = in_chroot(chroot_dir, "mounted")
    # the host's /mnt has no marker: a command that escaped to the real root would list that
    assert "mnt: only-in-the-chroot" in out, out
    assert "lab: lo" in out, out


def test_a_chroot_that_cannot_hold_a_world_is_refused_in_one_line(chroot_dir: Path) -> None:
    out = in_chroot(chroot_dir, "plain")
    lines = [line for line in out.splitlines() if line.startswith("error:")]
    assert (
        len(lines) == 1 and "nslab runs inside a chroot on local whose root is not a mount point" in lines[0]
    )
    assert "(fix: bind-mount the chroot onto itself before entering it" in lines[0]
