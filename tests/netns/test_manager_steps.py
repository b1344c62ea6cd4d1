"""`When HOST runs "..."` (issue 29): any command in that host's namespaces, a manager's
with its own configuration and bus; a non-zero exit fails the step with the command's
own words; a manager's command on a host without it names the hosts that run it; another
manager's module adds variables to a host's commands through a hook (Docker's
DOCKER_HOST)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from conftest import HERE_FEATURES, needs_netns, run_feature
from test_manager_world import LAB, needs_managers

from nslab.lab import load_lab
from nslab.managers import common
from nslab.managers.common import add_env_hook, host_argv

FEATURE = HERE_FEATURES / "manager-runs.feature"


@needs_netns
@needs_managers
def test_the_runs_step(tmp_path: Path) -> None:
    r = run_feature(FEATURE, tmp_path, "-D", f"lab={LAB}")
    out = r.stdout + r.stderr
    assert "3 scenarios passed, 2 failed, 0 skipped" in out, out[-3000:]
    assert "`ufw deny from nowhere` on web exited 1:\n" in out and "ERROR: Bad source address" in out
    assert (
        "client does not run firewalld, so `firewall-cmd` has nothing to manage there "
        "(fix: run it on a host that does: gw)"
    ) in out
    # a ping through firewalld is traced (its rules count nothing): the passing scenario
    assert "a ping through firewalld is traced" in out
    # a failure's diagnostics bundle shows each manager as its admin reads it, and its log
    (bundle,) = (tmp_path / "diagnostics").glob("*a-failing-command*.txt")
    text = bundle.read_text()
    assert "===== [web] ufw  ($ ufw status verbose) =====\nStatus: active" in text
    assert "===== [gw] firewalld  ($ firewall-cmd --list-all) =====\npublic" in text
    assert "===== [gw] firewalld's log =====" in text


def test_a_hook_adds_variables_to_a_hosts_commands() -> None:
    lab = load_lab(LAB)
    web, client = lab.namespace("web"), lab.namespace("client")
    before = list(common._ENV_HOOKS)
    try:
        add_env_hook(lambda _lab, host: {"DOCKER_HOST": f"unix:///run/nslab/docker/{host.name}.sock"})
        argv = host_argv(lab, client, ["docker", "ps"])
        assert argv == [
            "ip", "netns", "exec", "client",
            "env", "DOCKER_HOST=unix:///run/nslab/docker/client.sock", "docker", "ps",
        ]  # fmt: skip
        assert "DOCKER_HOST=unix:///run/nslab/docker/web.sock" in host_argv(lab, web, ["docker", "ps"])
        gw = host_argv(lab, lab.namespace("gw"), ["firewall-cmd", "--state"])
        assert "DBUS_SYSTEM_BUS_ADDRESS=unix:path=/run/nslab/managers/gw/dbus/system_bus_socket" in gw
    finally:
        common._ENV_HOOKS[:] = before


@needs_netns
@needs_managers
def test_nslab_exec_on_a_managers_host_enters_its_own_namespaces(tmp_path: Path) -> None:
    """`nslab up` then `nslab exec web -- ufw status`: web's ufw (its own /etc/ufw), not the
    machine's configuration; gw's firewall-cmd reaches gw's firewalld on its bus."""
    env = {**os.environ, "NSLAB_STATE": str(tmp_path / "lab.json")}
    nslab = [str(Path(sys.executable).with_name("nslab"))]

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*nslab, *args], capture_output=True, text=True, env=env, timeout=120)

    up = run("up", "--lab", str(LAB))
    try:
        assert up.returncode == 0, up.stderr
        status = run("exec", "web", "--", "ufw", "status")
        assert "Status: active" in status.stdout and "22/tcp" in status.stdout, status.stderr
        assert run("exec", "gw", "--", "firewall-cmd", "--state").stdout.strip() == "running"
    finally:
        down = run("down")
    assert down.returncode == 0 and "lab removed" in down.stdout


@needs_netns
@needs_managers
def test_ufw_rules_are_named_by_their_counters(tmp_path: Path) -> None:
    """Without a firewalld host nothing is traced: a connection's and a ping's deciding
    rules come from ufw's rules' own counters, each credited to ufw."""
    r = run_feature(HERE_FEATURES / "manager-ufw-counters.feature", tmp_path)
    assert r.returncode == 0, (r.stdout + r.stderr)[-3000:]
    assert "1 scenario passed, 0 failed, 0 skipped" in r.stdout
