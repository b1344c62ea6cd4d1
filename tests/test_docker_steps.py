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
    said = (
        'web ran "docker stop nothere": exit status 1: Error response from daemon: No such container: nothere'
    )
    assert said in r.stdout, r.stdout[-3000:]
    assert host_snapshot() == before
