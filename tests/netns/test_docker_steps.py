"""`When web runs "..."` on a Docker host: its own daemon's sockets, and a non-zero exit
fails the step with the command's own error."""

from __future__ import annotations

import shutil
from pathlib import Path

from conftest import HERE_FEATURES, ROOT, host_snapshot, needs_netns, run_feature
from support.labs import host, lan_lab
from test_docker_daemon import WEB, needs_docker
from test_manager_world import needs_managers


@needs_netns
@needs_docker
def test_a_failing_docker_command_fails_the_step_with_dockers_own_words(tmp_path: Path) -> None:
    before = host_snapshot()
    r = run_feature(HERE_FEATURES / "docker-run-fails.feature", tmp_path, "-D", f"lab={WEB}")
    assert r.returncode == 1
    # the managers' step (nslab.behave.steps.manager) on web's own daemon (DOCKER_HOST from
    # nslab.managers.docker_session.host_env): Docker itself answers, naming the container
    assert "`docker stop nothere` on web exited 1:" in r.stdout, r.stdout[-3000:]
    assert "Error response from daemon: No such container: nothere" in r.stdout
    assert host_snapshot() == before


# guest has no route to dock's docker0; gw's firewalld (whose rules count nothing) makes
# every probe of the lab a traced one (nslab.probe.traced)
TRACED_LAB = lan_lab(
    "dock-traced",
    "10.30.0.0/24",
    host("guest", "10.30.0.20"),
    host("dock", "10.30.0.10", docker='{ containers = [{ name = "api", publish = ["9000:80"] }] }'),
    host("gw", "10.30.0.30", firewall='{ firewalld = "gw-firewalld" }'),
)


@needs_netns
@needs_docker
@needs_managers
def test_a_traced_step_to_a_container_out_of_reach_says_unreachable(tmp_path: Path) -> None:
    # before: "the probe to 172.17.0.2 gave no source port, so its trace cannot be found"
    lab = tmp_path / "lab.toml"
    lab.write_text(TRACED_LAB)
    shutil.copytree(ROOT / "features" / "managers" / "labs" / "gw-firewalld", tmp_path / "gw-firewalld")
    before = host_snapshot()
    r = run_feature(HERE_FEATURES / "docker-unreachable-step.feature", tmp_path, "-D", f"lab={lab}")
    assert r.returncode == 0, r.stdout[-3000:]
    assert "1 scenario passed" in r.stdout, r.stdout[-3000:]
    assert host_snapshot() == before
