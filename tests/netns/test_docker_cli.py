"""`nslab up` of a lab with Docker: dockerd and the container in the persistent world,
`nslab exec web -- docker ...` talking to that host's own daemon, `nslab exec app` in the
container's namespace, and `nslab down` leaving no daemon and no cgroup."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from conftest import needs_netns
from support.corpus import nslab
from test_docker_daemon import WEB, cgroups, foreign, gone, machine, needs_docker, ours, processes_of


def nslab_env(tmp_path: Path, *args: str) -> tuple[int, str, str]:
    """nslab with a lab state of the test's own (never the user's lab)."""
    env = {**os.environ, "NSLAB_STATE": str(tmp_path / "lab.json")}
    r = subprocess.run(
        [sys.executable, "-m", "nslab.cli", *args], env=env, capture_output=True, text=True, timeout=300
    )
    return r.returncode, r.stdout, r.stderr


@needs_netns
@needs_docker
def test_up_exec_down_with_docker(tmp_path: Path) -> None:
    before, groups = machine(), cgroups()
    rc, out, err = nslab_env(tmp_path, "up", "--lab", str(WEB))
    try:
        assert rc == 0, err
        world_pid = int(json.loads((tmp_path / "lab.json").read_text())["world"]["pid"])
        assert processes_of(world_pid)  # dockerd outlived `nslab up`, in the lab's world
        rc, out, err = nslab_env(tmp_path, "exec", "web", "--", "docker", "ps", "--format", "{{.Names}}")
        assert (rc, out) == (0, "app\n"), err
        rc, out, err = nslab_env(tmp_path, "exec", "app", "--", "ss", "-Htln")
        assert rc == 0 and ":80 " in out, out + err  # the container's httpd, in its own namespace
    finally:
        nslab_env(tmp_path, "down")
    gone(world_pid)
    assert processes_of(world_pid) == []
    assert ours(world_pid) == set() and foreign(groups) == set()
    assert machine() == before
    assert nslab("validate", str(WEB)).returncode == 0
