"""The nslab command as a user types it."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT, can_make_worlds, host_snapshot, needs_netns

NSLAB = [sys.executable, "-m", "nslab.cli"]


def nslab(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*NSLAB, *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **(env or {})},
        cwd=ROOT,
    )


def test_validate_good_and_bad(tmp_path: Path) -> None:
    r = nslab("validate", "labs/seed.toml", "labs/three-ns.toml")
    assert r.returncode == 0 and r.stdout.count(": ok") == 2
    bad = tmp_path / "bad.toml"
    bad.write_text('[[namespace]]\nname = "red"\ninterface = "veth1-a-very-long"\naddress = "10.16.0.2"\n')
    r = nslab("validate", str(bad))
    assert r.returncode == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "namespace red.interface" in lines[0] and "15 bytes" in lines[0]
    assert r.stdout == ""


def test_validate_alone_checks_the_projects_lab(tmp_path: Path) -> None:
    """`nslab validate` alone was a usage error ("Missing argument 'FILES...'") where every
    other command takes the project's [tool.nslab] lab, which `nslab init` sets."""
    (tmp_path / "labs").mkdir()
    (tmp_path / "labs" / "mine.toml").write_text((ROOT / "labs" / "three-ns.toml").read_text())
    r = subprocess.run([*NSLAB, "validate"], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and r.stdout == ""
    assert (
        r.stderr == "nslab: no lab file given, and no [tool.nslab] lab here (fix: nslab validate FILE...)\n"
    )
    (tmp_path / "pyproject.toml").write_text('[tool.nslab]\nlab = "labs/mine.toml"\n')
    r = subprocess.run(
        [*NSLAB, "validate"], cwd=tmp_path / "labs", capture_output=True, text=True, timeout=120
    )
    assert r.returncode == 0 and r.stdout.startswith("mine.toml: ok (lab 'three': "), r.stdout + r.stderr


def test_help_lists_every_command() -> None:
    from nslab.cli import main

    r = nslab("--help")
    assert r.returncode == 0
    listed = re.findall(r"^  ([a-z]+) ", r.stdout.split("Commands:", 1)[1], re.M)
    assert sorted(listed) == sorted(main.commands), r.stdout  # every command the CLI has
    assert {"up", "down", "status", "shell", "exec", "validate", "doctor", "run", "diagram"} <= set(listed)


@needs_netns
def test_doctor_passes_here() -> None:
    r = nslab("doctor")
    assert r.returncode == 0, r.stdout
    assert "kernel bridge netfilter" in r.stdout and "0 to fix" in r.stdout


@needs_netns
def test_doctor_names_the_package_for_a_missing_tool(tmp_path: Path) -> None:
    # a PATH without dnsmasq: the doctor must say which package brings it
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in (
        "ip",
        "iptables",
        "iptables-save",
        "iptables-restore",
        "ping",
        "unshare",
        "nsenter",
        "sysctl",
        "getent",
        "bash",
        "sh",
        "mount",
        "mkdir",
        "readlink",
        "sleep",
        "cat",
        "test",
    ):
        for folder in ("/usr/sbin", "/usr/bin", "/sbin", "/bin"):
            if Path(folder, tool).exists():
                (bin_dir / tool).symlink_to(Path(folder, tool))
                break
    r = nslab("doctor", env={"PATH": str(bin_dir)})
    assert r.returncode == 1
    assert "FAIL tool dnsmasq" in r.stdout and "apt-get install dnsmasq-base" in r.stdout


@needs_netns
def test_up_status_exec_down(tmp_path: Path) -> None:
    env = {"NSLAB_STATE": str(tmp_path / "lab.json")}
    before = host_snapshot()
    r = nslab("status", env=env)
    assert r.returncode == 3 and "no lab is up" in r.stderr
    r = nslab("up", env=env)
    try:
        assert r.returncode == 0, r.stderr
        assert "lab 'seed' is up" in r.stdout
        again = nslab("up", env=env)
        assert again.returncode == 1 and "already up" in again.stderr
        r = nslab("status", env=env)
        assert r.returncode == 0 and "10.16.0.2/24" in r.stdout and "198.51.100.2/24" in r.stdout
        r = nslab("exec", "red", "--", "ping", "-n", "-c", "3", "-i", "0.01", "10.16.0.3", env=env)
        assert "3 packets transmitted, 3 received, 0% packet loss" in r.stdout
        r = nslab("exec", "red", "--", "getent", "hosts", "www.example.test", env=env)
        assert r.stdout.split()[0] == "203.0.113.10"
        r = nslab("exec", "host", "--", "iptables", "-L", "FORWARD", env=env)
        assert "Chain FORWARD (policy DROP)" in r.stdout
        r = subprocess.run(
            [*NSLAB, "shell", "red"],
            input="ip route\nexit\n",
            capture_output=True,
            text=True,
            env={**os.environ, **env, "SHELL": "/bin/bash"},
            timeout=30,
        )
        assert "default via 10.16.0.1 dev veth1-red" in r.stdout
        r = nslab("exec", "purple", "--", "true", env=env)
        assert r.returncode == 1 and "use one of: red, blue" in r.stderr
        r = nslab("exec", "red", "--", "nosuchcmd", env=env)
        assert r.returncode == 127 and r.stderr.strip().splitlines() == [
            "nslab: nosuchcmd: no such command (fix: install it, or give its full path)"
        ]
        assert host_snapshot() == before
    finally:
        down = nslab("down", env=env)
    assert down.returncode == 0 and "lab removed" in down.stdout
    # the lab is gone, and so is its lock: down left an empty lab.lock behind
    assert sorted(p.name for p in tmp_path.iterdir()) == []
    assert nslab("status", env=env).returncode == 3
    assert "nothing to remove" in nslab("down", env=env).stdout
    assert host_snapshot() == before


@needs_netns
def test_up_with_a_bad_lab_leaves_nothing(tmp_path: Path) -> None:
    env = {"NSLAB_STATE": str(tmp_path / "lab.json")}
    bad = tmp_path / "bad.toml"
    bad.write_text('[[namespace]]\nname = "red; rm -rf /"\naddress = "10.16.0.2"\n')
    r = nslab("up", "--lab", str(bad), env=env)
    assert r.returncode == 1 and "not a valid name" in r.stderr
    assert not (tmp_path / "lab.json").exists()


# Per stage: a probe that works once that stage has run, and one that needs a later stage.
PING = ["ping", "-n", "-c", "1", "-W", "0.2"]
STOPS = {
    "topology": (
        ["red", "--", *PING, "10.16.0.3"],  # the bridge carries red to blue
        ["host", "--", "iptables", "-S", "NAVY"],  # the firewall stage makes NAVY
    ),
    "gateway": (
        ["red", "--", *PING, "10.16.0.1"],  # the bridge answers as the gateway
        ["red", "--", *PING, "203.0.113.10"],  # no simulated internet before upstream
    ),
    "nat": (
        ["red", "--", *PING, "203.0.113.10"],  # masqueraded out and back
        ["red", "--", "getent", "hosts", "www.example.test"],  # no resolver before dns
    ),
}


@pytest.mark.parametrize("stage", list(STOPS))
@needs_netns
def test_up_can_stop_the_story_at_a_stage(tmp_path: Path, stage: str) -> None:
    env = {"NSLAB_STATE": str(tmp_path / "lab.json")}
    works, needs_later = STOPS[stage]
    r = nslab("up", "--upto", stage, env=env)
    try:
        assert r.returncode == 0, r.stderr
        r = nslab("exec", *works, env=env)
        assert r.returncode == 0, f"{works} after {stage}: {r.stdout}{r.stderr}"
        r = nslab("exec", *needs_later, env=env)
        assert r.returncode != 0, f"{needs_later} worked already after {stage}: {r.stdout}"
    finally:
        nslab("down", env=env)


@pytest.mark.parametrize("where", ["mynet", "."])
def test_init_says_the_command_that_works_from_where_the_user_stands(tmp_path: Path, where: str) -> None:
    """The hint runs the new scenarios as printed: behave beside this nslab (a venv's bin/
    is rarely on PATH), no `cd .`, no sudo for root."""
    here = tmp_path / "stand"
    here.mkdir()
    r = subprocess.run([*NSLAB, "init", where], capture_output=True, text=True, cwd=here, timeout=60)
    assert r.returncode == 0, r.stderr
    hint = r.stdout.strip().splitlines()[-1]
    command = hint.removeprefix("next: ").split("   (or:")[0]
    behave = Path(os.path.abspath(sys.executable)).parent / "behave"  # this checkout's .venv: not below here
    want = f"{behave} features/"
    want = ("" if os.geteuid() == 0 else "sudo ") + want
    assert command == (want if where == "." else f"cd {where} && {want}")
    if os.geteuid() == 0 and can_make_worlds():  # and it works, as printed
        run = subprocess.run(["bash", "-c", command], cwd=here, capture_output=True, text=True, timeout=300)
        assert run.returncode == 0 and "4 scenarios passed" in run.stdout, run.stdout[-2000:]
