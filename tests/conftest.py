"""Shared fixtures. Every test that builds namespaces does so inside worlds; the
session-wide `host_guard` fails the run if the root namespace changed anyway."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(__file__).parent / "data"
SYSCTLS = (
    "net.ipv4.ip_forward",
    "net.bridge.bridge-nf-call-iptables",
    "net.bridge.bridge-nf-call-ip6tables",
    "net.ipv4.conf.all.forwarding",
)


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
