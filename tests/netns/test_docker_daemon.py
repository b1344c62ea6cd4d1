"""Docker on a lab host, for real: dockerd, containerd and a container inside a world, and
the machine as it was after (its rules, /etc/docker, /var/lib/docker, its cgroups, no
daemon left), after a normal end and after a kill -9 of the run."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import ROOT, host_snapshot, needs_netns
from support.labs import provisioned

from nslab.config import Settings
from nslab.errors import MissingFeature, TargetError
from nslab.lab import load_lab
from nslab.machine.doctor import check_tools
from nslab.machine.host_world import HostWorld
from nslab.machine.targets.local import LocalTarget
from nslab.managers import docker
from nslab.managers.docker_session import DockerRun
from nslab.report import failure
from nslab.scenario.session import LabSession

LABS = ROOT / "features" / "docker" / "labs"
WEB = LABS / "docker-web.toml"
WHY = docker.missing(LocalTarget()) if os.geteuid() == 0 else "needs root"
needs_docker = pytest.mark.skipif(WHY is not None, reason=f"needs Docker: {WHY}")


def cgroups() -> set[str]:
    """Every cgroup directory named like Docker's, as `find /sys/fs/cgroup -name '*docker*'`."""
    out = subprocess.run(
        ["find", "/sys/fs/cgroup", "-name", "*docker*"], capture_output=True, text=True, check=False
    ).stdout
    return set(out.split())


def ours(world_pid: int) -> set[str]:
    """The cgroups of one world's Docker (other tests' worlds may have theirs meanwhile)."""
    return {g for g in cgroups() if f"/nslab-docker-{world_pid}-" in g}


def foreign(groups: set[str]) -> set[str]:
    """Docker-named cgroups made since `groups` under any other name than nslab's parents
    (dockerd's own `docker` directory, were it made outside them)."""
    return {g for g in cgroups() - groups if not g.rsplit("/", 1)[-1].startswith("nslab-docker-")}


def gone(world_pid: int, within: float = 30.0) -> None:
    """Wait for the world's processes and cgroups to go (its reaper runs once it ended)."""
    deadline = time.monotonic() + within
    while (processes_of(world_pid) or ours(world_pid)) and time.monotonic() < deadline:
        time.sleep(0.2)


def machine() -> dict[str, object]:
    """What Docker must never change on the machine, besides the root namespace."""
    etc = Path("/etc/docker")
    return {
        "etc": sorted(str(p) for p in etc.rglob("*")) if etc.is_dir() else None,
        "var": Path("/var/lib/docker").exists() or Path("/var/lib/containerd").exists(),
        "socket": Path("/run/docker.sock").exists() or Path("/var/run/docker.sock").exists(),
        "root": host_snapshot(),
    }


def processes_of(world_pid: int) -> list[str]:
    """Processes whose command line names this world's Docker (its cgroup parent)."""
    mark = f"nslab-docker-{world_pid}-"
    found = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            except OSError:
                continue
            if mark in cmdline:
                found.append(f"{proc.name}: {cmdline}")
    return found


@pytest.fixture
def web() -> Iterator[LabSession]:
    session = LabSession.open(Settings(lab=str(WEB), ping_wait=1, probe_wait=1))
    try:
        session.use_lab(None)
        session.new_world()
        yield session
    finally:
        session.close()


@needs_netns
@needs_docker
def test_docker_runs_on_the_lab_host_and_leaves_the_machine_as_it_was() -> None:
    before, groups = machine(), cgroups()
    session = LabSession.open(Settings(lab=str(WEB), ping_wait=1, probe_wait=1))
    try:
        session.use_lab(None)
        world = session.new_world()
        session.provision()
        daemon = session.docker.daemons["web"]
        mine = docker.cgroup_parent(world.info.pid, "web")
        # dockerd, its containerd and the container: in the world, in web's namespace
        ps = world.run(["docker", "ps", "--format", "{{.Names}} {{.Ports}}"], env=daemon.env).stdout
        name, ports = ps.split(None, 1)
        assert name == "app" and ports.startswith("0.0.0.0:8080->80/tcp")
        assert "docker0" in world.run(["ip", "-o", "link"], ns="web").stdout
        assert "docker0" not in world.run(["ip", "-o", "link"]).stdout
        assert {g.rsplit("/", 1)[-1] for g in ours(world.info.pid)} == {mine}
        assert foreign(groups) == set()  # nothing but nslab's parent
        conn = session.connect("the internet", "the uplink", "tcp", 8080)
        assert conn.outcome.outcome == "accepted"
        assert "web: accepted by DOCKER rule 1 (-d 172.17.0.2/32 ! -i docker0 -o docker0" in conn.why()
        assert "made by Docker" in conn.why()
        assert processes_of(world.info.pid)
    finally:
        session.close()
    assert machine() == before
    assert ours(world.info.pid) == set() and foreign(groups) == set()
    assert processes_of(world.info.pid) == []


@needs_netns
@needs_docker
def test_docker_stop_makes_the_container_unreachable(web: LabSession) -> None:
    web.provision()
    daemon = web.docker.daemons["web"]
    daemon.docker(["stop", "app"])
    # ended by the SIGTERM Docker's init passed on (143), not killed after 10 s (137)
    code = daemon.docker(["inspect", "-f", "{{.State.ExitCode}}", "app"]).stdout.strip()
    assert code == "143"
    conn = web.connect("the internet", "the uplink", "tcp", 8080)
    assert conn.outcome.outcome == "dropped", conn.describe()  # web's INPUT policy: no DNAT left
    # the SYN, and its retransmission where the probe's wait outlasted the kernel's first
    # retransmission timeout (1 s: seen with the machine overloaded, +2)
    said = conn.why()
    assert re.fullmatch(r"dropped; web: dropped by INPUT policy DROP \(\+[12] packets\)", said), said


SCRIPT = textwrap.dedent(
    """
    import sys, time
    from nslab.config import Settings
    from nslab.scenario.session import LabSession
    s = LabSession.open(Settings(lab=sys.argv[1]))
    s.use_lab(None)
    world = s.new_world()
    s.provision()
    print(world.info.pid, flush=True)
    time.sleep(600)
    """
)


@needs_netns
@needs_docker
@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGINT], ids=["kill -9", "Ctrl-C"])
def test_a_killed_run_leaves_no_daemon_and_no_cgroup(sig: signal.Signals) -> None:
    before, groups = machine(), cgroups()
    run = subprocess.Popen(
        [sys.executable, "-c", SCRIPT, str(WEB)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        assert run.stdout is not None
        line = run.stdout.readline()
        assert line.strip().isdigit(), run.stderr.read() if run.stderr else ""
        world_pid = int(line)
        assert processes_of(world_pid)
        assert any(docker.cgroup_parent(world_pid, "web") in g for g in ours(world_pid))
    finally:
        run.send_signal(sig)
        try:
            run.wait(30)
        except subprocess.TimeoutExpired:
            run.kill()
            run.wait()
    gone(world_pid)
    assert processes_of(world_pid) == []
    assert ours(world_pid) == set() and foreign(groups) == set()
    assert machine() == before


class NoDocker(LocalTarget):
    """This machine as one without docker.io: dockerd lives in /usr/sbin, not on this PATH."""

    def run(self, cmd, **kwargs):  # type: ignore[no-untyped-def]
        kwargs["env"] = {**(kwargs.get("env") or {}), "PATH": "/usr/bin:/bin"}
        return super().run(cmd, **kwargs)


@needs_netns
def test_a_lab_naming_docker_on_a_target_without_dockerd_skips_with_the_package() -> None:
    session = LabSession(Settings(lab=str(WEB)), NoDocker(), load_lab(WEB))
    assert session.missing_feature() == (
        "lab 'docker-web' needs Docker: dockerd, which local lacks (apt-get install docker.io)"
    )


def test_nslab_doctor_names_docker_io_where_dockerd_is_missing() -> None:
    found = {c.name: c for c in check_tools(NoDocker())}
    assert (found["tool dockerd"].ok, found["tool dockerd"].fix) == (False, "apt-get install docker.io")


@needs_netns
@needs_docker
def test_a_failed_scenarios_diagnostics_show_dockers_containers_and_log(web: LabSession) -> None:
    web.provision()
    text = failure.bundle_of(web)
    assert "docker on web" in text
    assert "app Up" in text  # docker ps -a: the container, up


@needs_netns
@needs_docker
def test_a_udp_published_port_reaches_the_containers_listener(tmp_path: Path) -> None:
    lab = tmp_path / "udp.toml"
    lab.write_text(WEB.read_text().replace('publish = ["8080:80"]', 'publish = ["5353:53/udp"]'))
    (tmp_path / "web-deny-incoming.rules").write_text((LABS / "web-deny-incoming.rules").read_text())
    with provisioned(lab, ping_wait=1, probe_wait=1) as session:
        session.listen("app", "udp", 53)  # in the container's own namespace
        conn = session.connect("the internet", "the uplink", "udp", 5353)
        assert conn.outcome.outcome == "answered", conn.describe()
        assert "web: translated by DOCKER rule 2 (! -i docker0 -p udp -m udp --dport 5353" in conn.why()
        assert session.seen_by("app", "udp", 53)  # it got there, through Docker's DNAT


@needs_netns
def test_behave_skips_a_docker_labs_scenarios_naming_the_package(tmp_path: Path) -> None:
    feature = ROOT / "features" / "docker" / "02-published-past-the-firewall.feature"
    env = {**os.environ, "PATH": "/usr/bin:/bin"}  # a machine without docker.io: no /usr/sbin/dockerd
    argv = [
        sys.executable,
        "-m",
        "behave",
        str(feature),
        "-D",
        f"reports={tmp_path}",
        "-D",
        "html=",
        "--no-junit",
    ]
    r = subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "0 scenarios passed, 0 failed, 5 skipped" in r.stdout
    assert "lab 'docker-web' needs Docker: dockerd, which local lacks (apt-get install docker.io)" in r.stderr


@needs_netns
@needs_docker
def test_a_dockerd_that_does_not_start_says_why_in_its_own_words_and_leaves_nothing(tmp_path: Path) -> None:
    (tmp_path / "daemon.json").write_text('{"no-such-option": true}\n')
    shutil.copy(LABS / "web-deny-incoming.rules", tmp_path)
    lab = tmp_path / "lab.toml"
    lab.write_text(
        WEB.read_text().replace(
            'publish = ["8080:80"] }]', 'publish = ["8080:80"] }], daemon = "daemon.json"'
        )
    )
    before, groups = machine(), cgroups()
    session = LabSession.open(Settings(lab=str(lab)))
    try:
        session.use_lab(None)
        world = session.new_world()
        with pytest.raises(TargetError) as exc:
            session.provision()
        assert str(exc.value).startswith("dockerd on lab host web did not start: ")
        assert "no-such-option" in str(exc.value)  # dockerd's own words, from its log
    finally:
        session.close()
    assert processes_of(world.info.pid) == []
    assert ours(world.info.pid) == set() and foreign(groups) == set()
    assert machine() == before


@needs_docker
def test_docker_in_a_host_scenario_skips_saying_why() -> None:
    """A @host scenario runs in the target's real root namespace (a disposable VM): no
    world's PID namespace would end its dockerd, so it skips. Nothing is run or torn down
    here: the HostWorld is made without open() and never closed."""
    real_root = HostWorld(LocalTarget(), load_lab(WEB))
    with pytest.raises(MissingFeature) as exc:
        DockerRun().on_host(real_root)
    assert "Docker runs inside a world only" in str(exc.value)
