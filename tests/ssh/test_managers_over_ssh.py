"""The firewall managers' stories (ufw, firewalld and Docker on lab hosts: features/managers,
features/docker) through a real OpenSSH sshd on 127.0.0.1 as a sudo user (the rest of the
suite runs over ssh as root: tests/ssh/test_ssh_target.py):
every scenario runs (none skips), the managers' daemons run below the ssh session (on the
target, not in this process's machine-side worlds), and none of them, nor a cgroup of
Docker's, outlives the run. A target without a manager skips naming the package, whatever
this machine has."""

from __future__ import annotations

import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import MANAGER_STORIES, ROOT, SUDO_USER, count_scenarios, host_snapshot, needs_sshd, run_behave
from support.procs import comm, wait_gone
from support.sshd import TestSshd

pytestmark = needs_sshd

STORIES = MANAGER_STORIES
DAEMONS = ("dockerd", "containerd", "firewalld", "dbus-daemon")
CGROUPS = Path("/sys/fs/cgroup")


def _summary(stdout: str) -> tuple[int, int, int]:
    found = re.search(r"^(\d+) scenarios? passed, (\d+) failed, (\d+) skipped", stdout, re.M)
    assert found, stdout[-3000:]
    passed, failed, skipped = map(int, found.groups())
    return passed, failed, skipped


def _docker_cgroups(worlds: set[int]) -> set[str]:
    """nslab's Docker cgroup parents (nslab-docker-WORLDPID-HOST) of these worlds: another
    suite's on this machine (its world's PID is not among them) are none of this run's."""
    pids = {str(w) for w in worlds}
    found = [*CGROUPS.glob("nslab-docker-*"), *CGROUPS.glob("*/nslab-docker-*")]  # cgroup v2, v1
    return {str(d) for d in found if d.name.split("-")[2] in pids}


@pytest.mark.slow  # 18 scenarios with their daemons: 51 to 97 s of a worker, measured here
def test_the_managers_stories_run_over_ssh_and_leave_nothing(
    sshd: TestSshd, test_users: list[str], tmp_path: Path
) -> None:
    """As the sudo user (root where sudo is not installed): the only run of these stories
    over ssh (test_ssh_target.py runs the others as root), so none may skip."""
    user = SUDO_USER if SUDO_USER in test_users else "root"
    before = host_snapshot()
    run = subprocess.Popen(
        [sys.executable, "-m", "behave", "-f", "progress", "--no-junit", *STORIES, *sshd.userdata(user),
         "-D", f"reports={tmp_path}", "-D", "html="],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    # the daemons, seen below the ssh session while the stories run: on the target
    seen: dict[int, str] = {}
    below: set[int] = set()  # every process below the session: the worlds' holders among them
    made: set[str] = set()  # their Docker cgroups, while they were there
    while run.poll() is None:
        for pid in sshd.session_pids():
            below.add(pid)
            if pid not in seen and comm(pid) in DAEMONS:
                seen[pid] = comm(pid)
        made |= _docker_cgroups(below)
        time.sleep(0.1)
    out, err = run.communicate()
    assert run.returncode == 0, out[-4000:] + err[-3000:]
    assert _summary(out) == (count_scenarios(*STORIES), 0, 0), out[-3000:] + err[-2000:]
    assert set(seen.values()) == set(DAEMONS), f"seen under the ssh session: {sorted(set(seen.values()))}"
    assert not wait_gone(seen), "a manager's daemon outlived its world"
    assert made, "no Docker cgroup of this run's worlds was seen: the leftover check would see none"
    deadline = time.monotonic() + 60  # the reaper removes a parent once runc is done (up to 60 s)
    while _docker_cgroups(below) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert not _docker_cgroups(below), "Docker's cgroups outlived their world"
    assert host_snapshot() == before


def test_a_target_without_ufw_skips_naming_the_package(tmp_path: Path) -> None:
    """The target is asked, not this machine: here ufw is installed, but the sshd's sessions
    see a PATH without it, so the ufw+Docker story skips saying what to install there."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for top in (Path("/usr/sbin"), Path("/sbin")):  # every program of sbin but ufw
        for tool in top.iterdir() if top.is_dir() else ():
            if tool.name != "ufw" and not (bin_dir / tool.name).exists():
                (bin_dir / tool.name).symlink_to(tool)
    tmp_path.chmod(0o755)
    path = f"{bin_dir}:/usr/local/bin:/usr/bin:/bin"
    assert subprocess.run(["sh", "-c", "command -v ufw"], capture_output=True).returncode == 0
    before = host_snapshot()
    with TestSshd.start(tmp_path / "sshd", users=["root"], extra=f"SetEnv PATH={path}\n") as server:
        r = run_behave(
            "features/docker/04-ufw-denies-docker-publishes.feature", "--no-junit",
            *server.userdata("root"), "-D", f"reports={tmp_path}", "-D", "html=",
        )  # fmt: skip
        sessions = server.session_pids()
    out = r.stdout + r.stderr
    assert r.returncode == 0, out[-3000:]
    assert _summary(r.stdout) == (0, 0, 3), out[-3000:]
    assert "lab 'docker-ufw' needs ufw, which ssh lacks (apt-get install ufw)" in out, out[-3000:]
    assert not wait_gone(sessions)
    assert host_snapshot() == before
