"""Reliability: hostile step and CLI input (one clear line each, nothing injected, nothing
left behind), raw steps that try to leave their world, reports that cannot be written,
a stage that fails half-way, a lab file changed mid-run, and runs side by side."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import (
    ROOT,
    SEED_STORY,
    TESTS,
    count_scenarios,
    host_snapshot,
    needs_netns,
    run_behave,
    run_feature,
)
from support.procs import alive

from nslab.errors import NslabError
from nslab.lab import default_lab
from nslab.machine.provision import provision
from nslab.machine.targets.local import LocalTarget
from nslab.machine.world import World

pytestmark = needs_netns
HERE = TESTS
INJECTED = (Path("/tmp/nslab-injected"), Path("/usr/local/nslab-injected"), Path("/etc/nslab-injected"))
NSLAB = [sys.executable, "-m", "nslab.cli"]

HOSTILE_STEPS = (
    "unknown host 'red; touch /tmp/nslab-injected' in lab 'seed' (fix: use one of: red, blue)",
    "unknown host '$(touch /tmp/nslab-injected)' in lab 'seed'",
    "unknown destination 'blue; touch /tmp/nslab-injected' (fix: use one of: red, blue, the gateway",
    "unknown destination '-f 10.16.0.3'",
    "unknown host 'averyveryverylongname' in lab 'seed'",
    "100000 pings is out of range (fix: ping 1 to 100 times)",
    "0 pings is out of range (fix: ping 1 to 100 times)",
    "'10.16.0.0/33' is not an IPv4 subnet (fix: write it like 10.16.0.0/24)",
    "'10.16.0.1/24' is not an IPv4 subnet",
    "'NA;VY' is not a valid chain name (fix: use letters, digits, '_' and '-')",
    "FORWARD is a built-in chain, not a custom one (fix: choose a custom name like NAVY)",
    "FORWARD policy 'MAYBE' is not ACCEPT or DROP (fix: write ACCEPT or DROP)",
    "unknown provision stage 'bogus' (fix: use one of: sysctl, networks",
    "unknown provision stage '../../etc'",
    "'kernel.sysrq' is not a network sysctl",
    "'net.ipv4.ip_forward;id' is not a network sysctl",
    "port '80;id' is not a number (fix: use a port from 1 to 65535)",
    "port -1 is out of range",
    "port 65536 is out of range",
    "address 192.0.2.1 is not part of lab 'seed'",
    "address 8.8.8.8 is not part of lab 'seed'",
    "'isp' is the simulated upstream, not a lab host",
)


def nslab(
    *args: str, env: dict[str, str] | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*NSLAB, *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, **(env or {})},
        timeout=timeout,
    )


def test_hostile_step_arguments_are_one_line_each(tmp_path: Path) -> None:
    before = host_snapshot()
    r = run_feature(HERE / "features" / "hostile.feature", tmp_path)
    assert r.returncode == 1 and "Traceback" not in r.stdout + r.stderr
    assert f"0 scenarios passed, {len(HOSTILE_STEPS)} failed, 0 skipped" in r.stdout, r.stdout[-2000:]
    for line in HOSTILE_STEPS:
        assert line in r.stdout, line
    assert not any(p.exists() for p in INJECTED)
    assert host_snapshot() == before


def test_raw_steps_that_try_to_leave_the_world_find_only_the_world(tmp_path: Path) -> None:
    before = host_snapshot()
    mounts = Path("/proc/self/mountinfo").read_text()
    ratelimit = Path("/proc/sys/kernel/printk_ratelimit").read_text()
    r = run_feature(HERE / "features" / "escapes.feature", tmp_path)
    assert r.returncode == 0, r.stdout[-3000:]
    assert "5 scenarios passed, 0 failed" in r.stdout
    assert "nslab-escape" not in host_snapshot()["links"]
    assert host_snapshot() == before
    assert Path("/proc/self/mountinfo").read_text() == mounts
    assert Path("/proc/sys/kernel/printk_ratelimit").read_text() == ratelimit
    assert Path("/etc/netns").is_dir() and not any(p.exists() for p in INJECTED)


@pytest.mark.parametrize(
    ("content", "words"),
    [
        (
            '[lab]\nsubnet = "10.16.0.0/33"\n[[namespace]]\nname = "red"\naddress = "10.16.0.2"\n',
            "is not a subnet",
        ),
        (
            '[[namespace]]\nname = "red"\naddress = "10.99.0.2"\n',
            "10.99.0.2 is in none of the network's subnets (10.16.0.0/24)",
        ),
        (
            '[[namespace]]\nname = "red"\naddress = "10.16.0.2"\n'
            '[[namespace]]\nname = "blue"\naddress = "10.16.0.2"\n',
            "address '10.16.0.2' is already used",
        ),
        ('[[namespace]]\nname = "red; rm -rf /"\naddress = "10.16.0.2"\n', "is not a valid name"),
        (
            '[lab]\nsubnet = "203.0.113.0/24"\n[[namespace]]\nname = "red"\naddress = "203.0.113.2"\n',
            "network lan: 203.0.113.0/24 overlaps the simulated internet's 203.0.113.10/32",
        ),
        ("[[namespace]\nname = 1\n", "not valid TOML"),
        ("\x00\x01\x02 binary", "not valid TOML"),
        (
            '[[namespace]]\nname = "red"\naddress = "10.16.0.2"\ninterface = "eth0$(id)"\n',
            "not a valid interface name",
        ),
    ],
    ids=[
        "bad-prefix",
        "outside-subnet",
        "duplicate-address",
        "shell-name",
        "upstream-overlap",
        "toml",
        "binary",
        "ifname",
    ],
)
def test_hostile_lab_files_are_one_line_each(tmp_path: Path, content: str, words: str) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text(content)
    r = nslab("validate", str(bad))
    assert r.returncode == 2 and r.stdout == ""
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and words in lines[0], r.stderr


def test_hostile_cli_input_is_one_line_each(tmp_path: Path) -> None:
    cases = [
        (["validate", str(tmp_path / "missing.toml")], "no such lab file"),
        (["validate", str(tmp_path)], "is a directory"),
        (
            ["explore", "--record", str(tmp_path / "none" / "x.reach")],
            f"no folder {tmp_path}/none (fix: make it",
        ),
        (["exec", "red; id", "--", "true"], "no lab is up"),
    ]
    env = {"NSLAB_STATE": str(tmp_path / "state" / "lab.json")}
    for args, words in cases:
        r = nslab(*args, env=env)
        assert r.returncode != 0 and words in r.stderr and "Traceback" not in r.stderr, (args, r.stderr)
    r = run_behave("features/01-base-lab.feature", "-D", "ping_wait=soon", "--no-junit")
    assert r.returncode != 0 and "nslab: setting ping_wait='soon' is not a number" in r.stderr
    r = run_behave("features/01-base-lab.feature", "-D", f"lab={tmp_path}/none.toml", "--no-junit")
    assert r.returncode != 0 and "no such lab file" in r.stderr and "Traceback" not in r.stderr
    up = nslab("up", "--upto", "topology", env=env)
    try:
        assert up.returncode == 0, up.stderr
        r = nslab("exec", "red; id", "--", "true", env=env)
        assert r.returncode == 1 and "unknown host 'red; id' in lab 'seed'" in r.stderr
    finally:
        nslab("down", env=env)


def test_reports_that_cannot_be_written_are_one_line(tmp_path: Path) -> None:
    """A read-only reports folder is refused before anything runs; a disk that fills up
    loses the page, not the verdicts. Each in a private mount namespace of its own."""
    folder = tmp_path / "reports"
    folder.mkdir()
    behave = [sys.executable, "-m", "behave", "-f", "progress", "--junit-directory", f"{folder}/junit"]
    script = 'mount -t tmpfs -o "$1" nslab-reports "$2" && shift 2 && exec "$@"'
    for opts, feature, words, rc in (
        (
            "ro,size=64k",
            "features/01-base-lab.feature",
            f"nslab: cannot write reports to {folder}: Read-only file system",
            2,
        ),
        (
            "size=40k",
            "tests/features/deliberate-failure.feature",
            "nslab: could not write the HTML report",
            1,
        ),
    ):
        argv = [*behave, feature, "-D", f"reports={folder}", "-D", f"html={folder}/index.html"]
        r = subprocess.run(
            [
                "unshare",
                "--mount",
                "--propagation",
                "private",
                "sh",
                "-c",
                script,
                "in-tmpfs",
                opts,
                str(folder),
                *argv,
            ],
            capture_output=True,
            text=True,
            cwd=ROOT,
            timeout=120,
        )
        out = r.stdout + r.stderr
        assert r.returncode == rc and words in out and "Traceback" not in out, out[-2000:]
    assert "1 failed" in out  # the verdict of the deliberate failure survived the full disk


def test_workers_sharing_a_reports_folder_all_pass_its_write_check(tmp_path: Path) -> None:
    """`nslab run -j N` gives its workers one reports folder; each checks it is writable at
    start. With one fixed probe name a worker could delete the other's probe and exit
    "cannot write reports" (CI lost half a suite to it). 4 processes x 300 checks at once."""
    code = (
        "import sys\nfrom pathlib import Path\nfrom nslab.behave.hooks import _writable\n"
        "for _ in range(300): _writable(Path(sys.argv[1]))\n"
    )
    procs = [
        subprocess.Popen([sys.executable, "-c", code, str(tmp_path)], stderr=subprocess.PIPE, text=True)
        for _ in range(4)
    ]
    errors = [p.communicate()[1] for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0, 0], errors
    assert list(tmp_path.iterdir()) == []  # every probe file is gone again


def test_a_stage_that_fails_half_way_names_its_line_and_the_world_goes() -> None:
    w = World.start(LocalTarget())
    provision(w, default_lab(), upto="topology")
    w.run(["ip", "netns", "del", "blue"], check=True)  # behind the lab's back
    with pytest.raises(NslabError) as caught:
        provision(w, default_lab(), only=["firewall", "gateway"])
    text = str(caught.value)
    assert "nslab: 40-gateway.sh line " in text and 'ip -n "$name" route replace default' in text, text
    assert "nslab: provision stage 40-gateway.sh failed" in text
    w.close()
    deadline = time.monotonic() + 5
    while alive(w.info.pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not alive(w.info.pid)


def test_a_lab_file_changed_during_a_run_does_not_change_the_run(tmp_path: Path) -> None:
    lab = tmp_path / "lab.toml"
    lab.write_text((ROOT / "labs" / "three-ns.toml").read_text())
    cmd = [sys.executable, "-m", "behave", "tests/features/three-ns.feature", "features/08-ports.feature"]
    run = subprocess.Popen(
        [
            *cmd,
            "-D",
            f"lab={lab}",
            "-D",
            f"reports={tmp_path}",
            "-D",
            "html=",
            "--no-junit",
            "-f",
            "progress",
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    # The progress formatter names the first feature after before_all has read the lab:
    # waiting on that, not on a fixed second that a loaded machine outran (seen: 9 failed).
    assert run.stdout is not None
    first = ""
    while "three-ns.feature" not in first and run.poll() is None:
        first += run.stdout.read(1)
    lab.write_text('[[namespace]]\nname = "changed"\naddress = "10.16.0.2"\n')
    rest, _ = run.communicate(timeout=120)
    out = first + rest
    assert run.returncode == 0, out[-3000:]
    assert "9 scenarios passed, 0 failed" in out


# Two runs at once need worlds of both at once, not every story: the seed's, and Docker on
# the seed's host (two dockerds, each with its own cgroup and socket).
STORIES = [*SEED_STORY, "features/docker/01-docker-breaks-the-bridge.feature"]


def test_two_suites_at_once_and_nslab_up_and_down_beside_them(tmp_path: Path) -> None:
    before = host_snapshot()
    env = {**os.environ, "NSLAB_STATE": str(tmp_path / "state" / "lab.json")}
    runs = []
    for name in ("a", "b"):
        argv = [
            sys.executable,
            "-m",
            "behave",
            *STORIES,
            "-f",
            "progress",
            "-D",
            f"reports={tmp_path / name}",
            "-D",
            "html=",
            "--junit-directory",
            str(tmp_path / name / "junit"),
        ]
        runs.append(
            subprocess.Popen(argv, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        )
    ups = [
        subprocess.Popen(
            [*NSLAB, "up", "--upto", "topology"],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    results = [p.communicate(timeout=60) for p in ups]
    assert sorted(p.returncode for p in ups) == [0, 1], results
    refused = next(err for p, (_, err) in zip(ups, results, strict=True) if p.returncode == 1)
    assert "another `nslab up` or `nslab down` is running" in refused or "a lab is already up" in refused
    assert len(refused.strip().splitlines()) == 1
    r = subprocess.run(
        [*NSLAB, "exec", "red", "--", "ping", "-c1", "-W1", "10.16.0.3"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert "1 received" in r.stdout
    down = subprocess.run([*NSLAB, "down"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=30)
    assert down.returncode == 0 and "lab removed" in down.stdout
    total = count_scenarios(*STORIES)
    for run in runs:
        out, _ = run.communicate(timeout=300)
        assert run.returncode == 0, out[-3000:]
        assert f"{total} scenarios passed, 0 failed, 0 skipped" in out
    assert host_snapshot() == before
