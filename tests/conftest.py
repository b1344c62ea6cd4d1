"""Shared fixtures. Every test that builds namespaces does so inside worlds; the
session-wide `host_guard` fails the run if the root namespace changed anyway."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
TESTS = Path(__file__).resolve().parent
DATA = Path(__file__).parent / "data"
HERE_FEATURES = Path(__file__).parent / "features"
# The seed story's features (features/*.feature: the project's default lab, no @lab tag).
# Tests of the runner's own mechanics (shards, workers, two runs at once, the other
# notation) need a real suite of several features, not every story: the DMZ, manager and
# Docker stories bring their own labs and daemons (dockerd, firewalld): measured, behave
# took 36.3 s over features/ (65 scenarios) and 9.5 s over these (37), and a dozen tests
# ran it. The whole of features/ still runs in test_seed_features.py, over ssh as root and
# unprivileged.
SEED_STORY = tuple(sorted(str(p.relative_to(ROOT)) for p in (ROOT / "features").glob("*.feature")))
# The firewall managers' stories (ufw, firewalld and Docker on lab hosts): over ssh they run as
# a sudo user in tests/ssh/test_managers_over_ssh.py, which watches their daemons; the rest
# of features/ runs over ssh as root (tests/ssh/test_ssh_target.py): every scenario once
# over ssh, not the managers' twice (their daemons cost ~10 s of CPU a run).
MANAGER_STORIES = ("features/managers", "features/docker")
SYSCTLS = (
    "net.ipv4.ip_forward",
    "net.bridge.bridge-nf-call-iptables",
    "net.bridge.bridge-nf-call-ip6tables",
    "net.ipv4.conf.all.forwarding",
)


# --- lanes -----------------------------------------------------------------------------------

# Each test file lies in the folder of the most its tests need (tests/unit, tests/netns,
# tests/ssh, tests/vm) and each test is marked with that lane. A test of a netns or ssh file
# that needs no root (no needs_netns, needs_sshd or root skip of its own) is marked unit too:
# `pytest -m unit` runs every test that needs no root, wherever it lies. A test file still at
# the top of tests/ (a new one, until it moves) gets the lane its marks say.
LANES = ("unit", "netns", "ssh", "vm")


def _needs_root(item: pytest.Item) -> bool:
    for mark in item.iter_markers():
        if mark.name in ("netns", "ssh", "vm") or mark in (needs_netns.mark, needs_sshd.mark):
            return True
        if mark.name == "skipif" and "root" in str(mark.kwargs.get("reason", "")):
            return True
    return _uses_sshd(item)


def _uses_sshd(item: pytest.Item) -> bool:
    return needs_sshd.mark in list(item.iter_markers()) or "sshd" in getattr(item, "fixturenames", ())


def lanes_of(item: pytest.Item) -> list[str]:
    parts = Path(item.path).parts[len(TESTS.parts) :] if Path(item.path).is_relative_to(TESTS) else ()
    if parts and parts[0] in LANES:
        lane = parts[0]
    elif item.get_closest_marker("vm"):
        lane = "vm"
    elif _uses_sshd(item):
        lane = "ssh"
    elif _needs_root(item):
        lane = "netns"
    else:
        lane = "unit"
    if lane in ("netns", "ssh") and not _needs_root(item):
        return [lane, "unit"]
    if lane == "netns" and _uses_sshd(item):  # a test of a netns file that logs in over ssh
        return [lane, "ssh"]
    return [lane]


def _shared_fixture_groups(items: list[pytest.Item]) -> dict[str, str]:
    """Tests that share a module fixture (a lab built once, a mutate run) by test id: one
    xdist group per set of fixtures used together, so `--dist loadgroup` makes the fixture
    once. Under `--dist load` the tests of a module were spread over the workers and each
    worker built the module's fixtures again (the NAT router's mutants ran up to 3 times)."""
    parent: dict[str, str] = {}

    def find(x: str) -> str:
        while parent.setdefault(x, x) != x:
            x = parent[x]
        return x

    used: dict[str, list[str]] = {}
    for item in items:
        info = getattr(item, "_fixtureinfo", None)
        if info is None:
            continue
        module = Path(item.path).stem
        names = [
            f"{module}.{name}"
            for name, defs in info.name2fixturedefs.items()
            if defs and defs[-1].scope == "module" and defs[-1].baseid.endswith(".py")
        ]
        for name in names[1:]:
            parent[find(name)] = find(names[0])
        if names:
            used[item.nodeid] = names
    return {nodeid: find(names[0]) for nodeid, names in used.items()}


@pytest.hookimpl(tryfirst=True)  # before xdist's own hook reads the groups
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    groups = _shared_fixture_groups(items)
    for item in items:
        for lane in lanes_of(item):
            item.add_marker(getattr(pytest.mark, lane))
        if item.nodeid in groups:
            item.add_marker(pytest.mark.xdist_group(groups[item.nodeid]))
    # the slow tests first: a worker that takes one late would run on alone at the end
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)


def can_make_worlds() -> bool:
    return os.geteuid() == 0 and all(shutil.which(t) for t in ("unshare", "nsenter", "ip", "iptables"))


needs_netns = pytest.mark.skipif(
    not can_make_worlds(), reason="needs root with unshare, nsenter, ip and iptables (run .ci/setup)"
)


def _out(argv: list[str]) -> str:
    try:
        return subprocess.run(argv, capture_output=True, text=True, timeout=20).stdout
    except FileNotFoundError:
        return f"({argv[0]} missing)"


def host_snapshot() -> dict[str, str]:
    """The root namespace's network state: rules, links, addresses, routes, netns, sysctls."""
    snap = {}
    for tool in ("iptables-save", "iptables-legacy-save", "ip6tables-save"):
        if shutil.which(tool):
            text = _out([tool])
            snap[tool] = "\n".join(line for line in text.splitlines() if not line.startswith("#"))
    snap["links"] = _out(["ip", "-o", "link"])
    snap["addresses"] = _out(["ip", "-o", "addr"])
    snap["routes"] = _out(["ip", "route", "show", "table", "all"])
    snap["netns"] = _out(["ip", "netns", "list"])
    for key in SYSCTLS:
        path = Path("/proc/sys") / key.replace(".", "/")
        snap[key] = path.read_text() if path.exists() else "(absent)"
    return snap


@pytest.fixture(scope="session", autouse=True)
def host_guard() -> Iterator[None]:
    before = host_snapshot()
    yield
    after = host_snapshot()
    changed = [k for k in before if before[k] != after[k]]
    assert not changed, f"the tests changed the root namespace: {changed}"


@pytest.fixture
def venv_bin() -> Path:
    return Path(sys.executable).parent


def run_behave(*args: str, cwd: Path = ROOT, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "behave", *args], cwd=cwd, capture_output=True, text=True, timeout=timeout
    )


def run_feature(feature: str | Path, reports: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """behave on one feature with its reports in `reports`: no HTML page, no JUnit files."""
    return run_behave(str(feature), "-D", f"reports={reports}", "-D", "html=", "--no-junit", *args)


def count_scenarios(*paths: str) -> int:
    """Scenarios in features/ (outline rows included), as behave's dry run counts them."""
    dry = run_behave("--dry-run", "-f", "null", "--no-junit", *(paths or ("features/",)))
    found = re.search(r"^0 scenarios passed, 0 failed, 0 skipped, (\d+) untested", dry.stdout, re.M)
    assert found, dry.stdout
    return int(found.group(1))


# --- a real sshd on loopback, and the users the ssh tests log in as ----------------------

# Named per test run (by this pytest's PID): two suites at once on one machine must not
# delete each other's users or sudoers file when the first one ends.
SUDO_USER = f"nslabci-{os.getpid()}"  # passwordless sudo
NOPW_USER = f"nslabpw-{os.getpid()}"  # no sudo rights: sudo -n asks for a password
SUDOERS = Path(f"/etc/sudoers.d/nslab-test-{os.getpid()}")
_RUN_USER = re.compile(r"nslab(?:ci|pw)-(\d+)")


def _remove_users_of_ended_runs() -> None:
    """Users a killed earlier run left (its PID is gone): removed, so none piles up."""
    import pwd

    for entry in pwd.getpwall():
        m = _RUN_USER.fullmatch(entry.pw_name)
        if m and not Path(f"/proc/{m[1]}").exists():
            subprocess.run(["userdel", "--remove", entry.pw_name], capture_output=True)
            Path(f"/etc/sudoers.d/nslab-test-{m[1]}").unlink(missing_ok=True)


def can_run_sshd() -> bool:
    from support.sshd import sshd_binary

    return can_make_worlds() and sshd_binary() is not None and shutil.which("ssh-keygen") is not None


needs_sshd = pytest.mark.skipif(not can_run_sshd(), reason="needs root, sshd and ssh-keygen (run .ci/setup)")


@pytest.fixture(scope="session")
def test_users() -> Iterator[list[str]]:
    """Two throwaway login users; removed again at the end if this session made them."""
    import pwd

    _remove_users_of_ended_runs()
    made = []
    for user in (SUDO_USER, NOPW_USER):
        try:
            pwd.getpwnam(user)
        except KeyError:
            # password '*': no password login, but not "locked" (sshd refuses locked accounts)
            subprocess.run(
                ["useradd", "--create-home", "--shell", "/bin/sh", "--password", "*", user], check=True
            )
            made.append(user)
    have_sudo = shutil.which("sudo") is not None
    if have_sudo:
        SUDOERS.write_text(f"{SUDO_USER} ALL=(ALL) NOPASSWD: ALL\n")
        SUDOERS.chmod(0o440)
    try:
        yield [SUDO_USER, NOPW_USER] if have_sudo else []
    finally:
        SUDOERS.unlink(missing_ok=True)
        for user in made:
            subprocess.run(["userdel", "--remove", user], capture_output=True)


@pytest.fixture(scope="session")
def sshd(test_users: list[str]) -> Iterator[object]:
    import tempfile

    from support.sshd import TestSshd

    # not under pytest's 0700 temp root: sshd reads each user's authorized keys as that user
    directory = Path(tempfile.mkdtemp(prefix="nslab-sshd-"))
    directory.chmod(0o755)
    server = TestSshd.start(directory, users=["root", *test_users])
    try:
        yield server
    finally:
        server.stop()
        shutil.rmtree(directory, ignore_errors=True)
