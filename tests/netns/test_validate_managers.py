"""`nslab validate` on a lab's ufw commands: ufw's own parser says which it refuses, in one
line naming the host, the command and ufw's words; the ok line says they were checked."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from conftest import ROOT, host_snapshot
from support.corpus import nslab
from support.labs import host, lan_lab

needs_ufw = pytest.mark.skipif(shutil.which("ufw") is None, reason="needs ufw (apt-get install ufw)")

LAB = """\
[lab]
name = "v-ufw"

[[network]]
name = "lan"
subnet = "10.7.0.0/24"

[[host]]
name = "pg"
interfaces = [{{ network = "lan", address = "10.7.0.20" }}]
firewall = {{ ufw = ["default deny incoming", "allow 22/tcp", {extra}] }}
"""


def _validate(tmp_path: Path, extra: str) -> tuple[int, str, str]:
    lab = tmp_path / "lab.toml"
    lab.write_text(LAB.format(extra=extra))
    before = host_snapshot()
    etc = sorted(str(p) for p in Path("/etc/ufw").rglob("*")) if Path("/etc/ufw").is_dir() else []
    r = nslab("validate", str(lab))
    assert host_snapshot() == before
    assert (sorted(str(p) for p in Path("/etc/ufw").rglob("*")) if Path("/etc/ufw").is_dir() else []) == etc
    return r.returncode, r.stdout, r.stderr


@needs_ufw
@pytest.mark.parametrize(
    ("command", "words"),
    [
        ("deny 99999/tcp", "Bad port"),
        ("allow from 10.0.0.0/33", "Bad source address"),
        ("frobnicate 22", "Invalid syntax"),
    ],
)
def test_a_ufw_command_ufw_refuses_fails_validate_naming_host_command_and_ufws_words(
    tmp_path: Path, command: str, words: str
) -> None:
    rc, out, err = _validate(tmp_path, f'"{command}"')
    assert rc == 2, out + err
    (line,) = err.splitlines()
    assert f"host pg: ufw command '{command}' is refused by ufw: {words} (fix: " in line, line


@needs_ufw
def test_validate_says_it_checked_the_ufw_commands(tmp_path: Path) -> None:
    rc, out, err = _validate(tmp_path, '"allow from 10.7.0.0/24 to any port 5432 proto tcp"')
    assert rc == 0, err
    assert out.rstrip().endswith("; ufw commands of pg checked by ufw's parser"), out


FIREWALLD_LAB = lan_lab("v-fwd", "10.7.0.0/24", host("gw", "10.7.0.30", firewall='{ firewalld = "gw-conf" }'))
needs_firewalld = pytest.mark.skipif(
    shutil.which("firewall-offline-cmd") is None or os.geteuid() != 0,
    reason="needs firewalld (apt-get install firewalld) and root",
)


def _etc_firewalld() -> list[tuple[str, float]]:
    top = Path("/etc/firewalld")
    return sorted((str(p), p.stat().st_mtime) for p in top.rglob("*")) if top.is_dir() else []


@needs_firewalld
@pytest.mark.parametrize(
    ("zone", "words"),
    [
        (
            '<zone><service name="no-such-service"/></zone>',
            "INVALID_SERVICE: Zone 'public'",
        ),
        (
            '<zone><port protocol="tcp" port="99999"/></zone>',
            "INVALID_PORT: port number in '99999'",
        ),
    ],
)
def test_a_firewalld_folder_firewalld_refuses_fails_validate_with_firewalds_words(
    tmp_path: Path, zone: str, words: str
) -> None:
    (tmp_path / "gw-conf" / "zones").mkdir(parents=True)
    (tmp_path / "gw-conf" / "zones" / "public.xml").write_text(zone)
    (tmp_path / "lab.toml").write_text(FIREWALLD_LAB)
    before, etc = host_snapshot(), _etc_firewalld()
    r = nslab("validate", str(tmp_path / "lab.toml"))
    assert (host_snapshot(), _etc_firewalld()) == (before, etc)
    assert r.returncode == 2, r.stdout + r.stderr
    (line,) = r.stderr.splitlines()
    assert f"host gw: firewalld refuses its folder gw-conf: {words}" in line, line


@needs_firewalld
def test_validate_says_it_checked_the_firewalld_folder(tmp_path: Path) -> None:
    shutil.copytree(ROOT / "features" / "managers" / "labs" / "gw-firewalld", tmp_path / "gw-conf")
    (tmp_path / "lab.toml").write_text(FIREWALLD_LAB)
    r = nslab("validate", str(tmp_path / "lab.toml"))
    assert r.returncode == 0, r.stderr
    assert r.stdout.rstrip().endswith("; firewalld folders of gw checked by firewalld"), r.stdout
