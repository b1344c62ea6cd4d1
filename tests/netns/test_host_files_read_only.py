"""Worlds cannot touch the host's files: `/` read-only inside them by default, with the
world's own writable /tmp, /run and /etc/netns; `-D host_fs=rw` for the rare lab that must.

The host file the scenarios try to change is a scratch file this test makes outside /tmp
(a world's /tmp is its own, so a file there would not even be seen)."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import ROOT, can_run_sshd, host_snapshot, needs_netns, run_behave, run_feature

from nslab.errors import TargetError
from nslab.machine.targets.local import LocalTarget
from nslab.machine.world import World

pytestmark = needs_netns

FEATURE = """\
# A scenario that writes a file of the host's, outside the world's own directories.
#
#   host (the world's root namespace): / read-only, /tmp /run /etc/netns its own
#
Feature: The host's files inside a world
  Scenario: a raw step writes a host file
    Given the seed lab
    When I run on the host
      \"\"\"
      echo changed > {path}
      \"\"\"
    Then the command succeeds
"""


@pytest.fixture
def host_file() -> Iterator[Path]:
    """A scratch file on the host's own file system (not /tmp, which a world replaces)."""
    folder = Path(tempfile.mkdtemp(prefix="nslab-hostfs-", dir="/var/tmp"))
    path = folder / "original.txt"
    path.write_text("original\n")
    yield path
    path.unlink(missing_ok=True)
    folder.rmdir()


def write_feature(folder: Path, host_file: Path) -> Path:
    """The feature in a folder of its own, beside links to this project's steps and hooks
    (behave finds them by walking up from the feature)."""
    (folder / "steps").symlink_to(ROOT / "steps")
    (folder / "environment.py").symlink_to(ROOT / "environment.py")
    feature = folder / "writes-host.feature"
    feature.write_text(FEATURE.format(path=host_file))
    return feature


def test_a_world_sees_the_host_read_only_but_for_its_own_directories(host_file: Path) -> None:
    with World.start(LocalTarget()) as w:
        r = w.run(["sh", "-c", 'echo changed > "$1"', "write", str(host_file)])
        assert r.rc != 0 and "Read-only file system" in r.output, r.output
        r = w.run(["sh", "-c", "echo 1 > /proc/sys/kernel/printk_ratelimit"])
        assert r.rc != 0 and "Read-only file system" in r.output, "kernel.* sysctls are the host's"
        assert w.run(["sysctl", "-qw", "net.ipv4.ip_forward=1"]).ok, "net.* is the world's own"
        for own in ("/tmp/x", "/run/x", "/etc/netns/x"):
            assert w.run(["touch", own]).ok, own
        assert not Path("/tmp/x").exists() and not Path("/etc/netns/x").exists()
        assert w.run(["ip", "netns", "add", "red"]).ok  # the lab's namespaces still come and go
    assert host_file.read_text() == "original\n"
    with World.start(LocalTarget(), host_fs="rw") as w:  # the switch is what protected it
        assert w.run(["sh", "-c", 'echo changed > "$1"', "write", str(host_file)]).ok
    assert host_file.read_text() == "changed\n"
    with pytest.raises(TargetError, match="host_fs='maybe' is not ro or rw"):
        World.start(LocalTarget(), host_fs="maybe")


def test_a_scenario_writing_a_host_file_fails_naming_it(host_file: Path, tmp_path: Path) -> None:
    before = host_snapshot()
    feature = write_feature(tmp_path, host_file)
    r = run_feature(feature, tmp_path)
    assert r.returncode == 1
    assert f"{host_file}: Read-only file system" in r.stdout, r.stdout[-2000:]
    assert "the host's files are read-only inside a world: write under /tmp, /run or /etc/netns" in r.stdout
    assert host_file.read_text() == "original\n"
    r = run_feature(feature, tmp_path, "-D", "host_fs=rw")
    assert r.returncode == 0, r.stdout[-2000:]
    assert host_file.read_text() == "changed\n"
    r = run_behave(str(feature), "-D", "host_fs=maybe", "--no-junit")
    assert r.returncode != 0
    assert "nslab: host_fs='maybe' is neither ro nor rw (fix: use -D host_fs=ro (default)" in r.stderr
    assert host_snapshot() == before


@pytest.mark.skipif(not can_run_sshd(), reason="needs root, sshd and ssh-keygen (run .ci/setup)")
def test_over_ssh_the_remote_host_is_read_only_too(sshd, host_file: Path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    feature = write_feature(tmp_path, host_file)
    r = run_feature(feature, tmp_path, *sshd.userdata("root"))
    assert r.returncode == 1 and f"{host_file}: Read-only file system" in r.stdout, r.stdout[-2000:]
    assert host_file.read_text() == "original\n"


def test_nslab_up_is_read_only_unless_asked(host_file: Path, tmp_path: Path) -> None:
    env = {**os.environ, "NSLAB_STATE": str(tmp_path / "lab.json")}

    def nslab(*args: str) -> subprocess.CompletedProcess[str]:
        cmd = [sys.executable, "-m", "nslab.cli", *args]
        return subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=ROOT, timeout=60)

    write = ["exec", "host", "--", "sh", "-c", 'echo changed > "$1"', "write", str(host_file)]
    for flags, works in (((), False), (("--host-fs", "rw"), True)):
        up = nslab("up", "--upto", "topology", *flags)
        try:
            assert up.returncode == 0, up.stderr
            r = nslab(*write)
            assert (r.returncode == 0) == works, r.stdout + r.stderr
            if not works:
                assert "Read-only file system" in r.stderr + r.stdout
        finally:
            nslab("down")
    assert host_file.read_text() == "changed\n"
