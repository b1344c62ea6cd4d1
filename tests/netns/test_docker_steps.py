"""`When web runs "..."` on a Docker host: its own daemon's sockets, and a non-zero exit
fails the step with the command's own error."""

from __future__ import annotations

from pathlib import Path

from conftest import HERE_FEATURES, host_snapshot, needs_netns, run_feature
from test_docker_daemon import WEB, needs_docker


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
