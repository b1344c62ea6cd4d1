"""A lab naming a manager the target lacks: its scenarios skip with the package to
install, and `nslab doctor` lists the managers (issue 29)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from conftest import ROOT, needs_netns

FEATURE = ROOT / "features" / "managers" / "02-ufw.feature"


def _path_without_managers(tmp_path: Path) -> dict[str, str]:
    """PATH with every program of /usr/sbin and /sbin but ufw and firewalld (their own)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for top in (Path("/usr/sbin"), Path("/sbin")):
        for tool in top.iterdir() if top.is_dir() else ():
            if tool.name not in ("ufw", "firewalld") and not (bin_dir / tool.name).exists():
                (bin_dir / tool.name).symlink_to(tool)
    return {**os.environ, "PATH": f"{bin_dir}:/usr/local/bin:/usr/bin:/bin"}


@needs_netns
def test_a_lab_whose_manager_is_missing_skips_naming_the_package(tmp_path: Path) -> None:
    env = _path_without_managers(tmp_path)
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "behave",
            str(FEATURE),
            "-D",
            f"reports={tmp_path}",
            "-D",
            "html=",
            "--no-junit",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )
    out = r.stdout + r.stderr
    assert r.returncode == 0, out
    assert "0 scenarios passed, 0 failed, 2 skipped" in out
    assert "lab 'managers' needs firewalld, which local lacks (apt-get install firewalld)" in out


@needs_netns
def test_doctor_lists_the_managers_and_their_packages(tmp_path: Path) -> None:
    env = _path_without_managers(tmp_path)
    nslab = Path(sys.executable).with_name("nslab")
    r = subprocess.run([str(nslab), "doctor"], capture_output=True, text=True, timeout=120, env=env)
    assert "manager ufw" in r.stdout and "to run them: apt-get install ufw" in r.stdout
    assert "labs naming firewalld skip; to run them: apt-get install firewalld" in r.stdout
