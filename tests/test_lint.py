"""Style gates that CI enforces: ruff on the Python, shellcheck on every shell script."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT


def test_ruff_is_clean() -> None:
    ruff = Path(sys.executable).with_name("ruff")
    if not ruff.exists():
        pytest.skip("ruff is not installed (pip install -e '.[dev]')")
    r = subprocess.run([str(ruff), "check", "."], cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 0, r.stdout


def test_shell_scripts_pass_shellcheck() -> None:
    shellcheck = shutil.which("shellcheck") or str(Path(sys.executable).with_name("shellcheck"))
    scripts = [
        str(p)
        for p in (*ROOT.glob("provision/**/*.sh"), *ROOT.glob(".ci/*"), *ROOT.glob("bench/*.sh"))
        if p.is_file() and p.suffix in ("", ".sh")
    ]
    r = subprocess.run([shellcheck, "-x", *scripts], cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 0, r.stdout
