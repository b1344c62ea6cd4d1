"""nslab as a user installs it: the wheel into a fresh venv outside the checkout, `nslab init`
in an empty folder, and that scaffold's scenarios green on the local target and over ssh."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT, can_run_sshd, host_snapshot, needs_netns

pytestmark = needs_netns


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheel built from this checkout, installed into a venv of its own; its bin/."""
    base = tmp_path_factory.mktemp("wheel")
    # --no-isolation: hatchling, the build backend, is a dev dependency of this venv; an
    # isolated build installed it again first (~4 s of CPU) and gives the same files
    # (tests/unit/test_init_pip_line.py builds both ways and compares them)
    built = subprocess.run(
        [sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", str(base / "dist"),
         str(ROOT)],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    if built.returncode != 0 and "No module named build" in built.stderr:
        pytest.skip("the build module is not installed (run .ci/setup)")
    assert built.returncode == 0, built.stderr[-2000:]
    (wheel,) = (base / "dist").glob("nslab-*.whl")
    subprocess.run([sys.executable, "-m", "venv", str(base / "venv")], check=True, timeout=120)
    pip = subprocess.run(
        [str(base / "venv" / "bin" / "pip"), "install", "-q", "--disable-pip-version-check", str(wheel)],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert pip.returncode == 0, pip.stderr[-2000:]
    return base / "venv" / "bin"


def test_the_wheel_gives_nslab_and_a_scaffold_that_passes(installed: Path, tmp_path: Path) -> None:
    before = host_snapshot()
    version = subprocess.run([str(installed / "nslab"), "--version"], capture_output=True, text=True)
    assert version.returncode == 0 and "version 0." in version.stdout
    repo = tmp_path / "myrepo"
    r = subprocess.run(
        [str(installed / "nslab"), "init", str(repo)], capture_output=True, text=True, cwd=tmp_path
    )
    assert r.returncode == 0, r.stderr
    assert (repo / "steps" / "nslab_steps.py").read_text().count("import *") == 1
    wheel = next((installed.parent.parent / "dist").glob("nslab-*.whl"))  # CI installs this wheel
    assert (repo / ".nslab" / "requirements.txt").read_text() == f"./.nslab/{wheel.name}\n"
    assert (repo / ".nslab" / wheel.name).read_bytes() == wheel.read_bytes()
    r = subprocess.run(
        [str(installed / "behave"), "features/"], capture_output=True, text=True, cwd=repo, timeout=300
    )
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-1000:]
    assert "4 scenarios passed, 0 failed, 0 skipped" in r.stdout
    assert str(ROOT) not in r.stdout + r.stderr  # nothing came from this checkout
    again = subprocess.run([str(installed / "nslab"), "init", str(repo)], capture_output=True, text=True)
    assert again.returncode == 1 and len(again.stderr.strip().splitlines()) == 1
    assert "already there: labs/lab.toml, labs/web.nft, features/example.feature" in again.stderr
    assert host_snapshot() == before


@pytest.mark.skipif(not can_run_sshd(), reason="needs root, sshd and ssh-keygen (run .ci/setup)")
def test_the_scaffold_passes_over_ssh_from_the_wheel(installed: Path, tmp_path: Path, sshd) -> None:  # type: ignore[no-untyped-def]
    repo = tmp_path / "myrepo"
    subprocess.run([str(installed / "nslab"), "init", str(repo)], check=True, capture_output=True)
    r = subprocess.run(
        [str(installed / "behave"), "features/", *sshd.userdata("root")],
        capture_output=True, text=True, cwd=repo, timeout=300,
    )  # fmt: skip
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-1000:]
    assert "4 scenarios passed, 0 failed, 0 skipped" in r.stdout


def _five_minutes() -> str:
    text = (ROOT / "README.md").read_text()
    return text.split("## Test your own network in 5 minutes", 1)[1].split("\n## ", 1)[0]


def test_the_readme_five_minutes_section_word_for_word(installed: Path, tmp_path: Path) -> None:
    """The README's 'Test your own network in 5 minutes', done as written: its commands, its
    edits, and the words it says behave prints at each step (red, then all green)."""
    import re

    section = _five_minutes()
    blocks = re.findall(r"```(\w*)\n(.*?)```", section, re.S)
    commands = next(b for lang, b in blocks if lang == "sh")
    nft = next(b for lang, b in blocks if lang == "")
    (wheel,) = (installed.parent.parent / "dist").glob("nslab-*.whl")
    lines = [line.split("#", 1)[0].strip() for line in commands.strip().splitlines()]
    assert "PATH/TO/nslab" in lines[0] and lines[2] == "../.venv/bin/behave features/"
    empty = tmp_path / "empty"
    empty.mkdir()
    script = "set -e\n" + "\n".join(lines).replace("PATH/TO/nslab", str(wheel)) + "\n"
    r = subprocess.run(["bash", "-c", script], cwd=empty, capture_output=True, text=True, timeout=900)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-2000:]
    assert "4 scenarios passed, 0 failed, 0 skipped" in r.stdout  # the comment's "4 scenarios passed"
    assert "next: cd mynet && ../.venv/bin/behave features/" in r.stdout  # init's hint: the README's line
    repo = empty / "mynet"
    behave = [str(empty / ".venv" / "bin" / "behave"), "features/"]

    # "Now make it red": port 80 rejected with "admin-prohibited", over IPv4 and over IPv6
    feature = repo / "features" / "example.feature"
    text = feature.read_text()
    port80 = re.compile(r"(on tcp port 80(?: over IPv6)?\n\s+Then the connection is )accepted")
    assert len(port80.findall(text)) == 2  # "both scenarios that open it"
    feature.write_text(port80.sub(r'\1rejected with "admin-prohibited"', text))
    red = subprocess.run(behave, cwd=repo, capture_output=True, text=True, timeout=300)
    said = re.search(r"behave fails with\s+`([^`]+)`", section)[1]  # type: ignore[index]
    assert red.returncode == 1 and said in red.stdout, red.stdout[-3000:]

    # "Make it green with the firewall you mean to deploy": one rule of web.nft, replaced
    was = re.search(r"in place of `([^`]+)`", section)[1]  # type: ignore[index]
    rules = (repo / "labs" / "web.nft").read_text()
    assert rules.count(was) == 1, rules
    (repo / "labs" / "web.nft").write_text(rules.replace(was, nft.strip()))
    green = subprocess.run(behave, cwd=repo, capture_output=True, text=True, timeout=300)
    assert green.returncode == 0, green.stdout[-3000:]
    assert "4 scenarios passed, 0 failed, 0 skipped" in green.stdout  # "all 4 scenarios pass"

    # "a wrong expectation now says which rule decided"
    feature.write_text(text)  # back to accepted: now wrong
    wrong = subprocess.run(behave, cwd=repo, capture_output=True, text=True, timeout=300)
    decided = re.search(r"says which rule decided:\s+`([^`]+)`", section)[1]  # type: ignore[index]
    assert wrong.returncode == 1 and decided in wrong.stdout, wrong.stdout[-3000:]
