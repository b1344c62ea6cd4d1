"""A behave run forked from the zygote (nslab.behave.zygote) is a fresh `python -m
behave` in all a run sees: the project's own steps loaded (beside nslab's, registered once:
no AmbiguousStep), its -D and [tool.behave] read per run, its output and exit code; a run
is stopped by its pid; the zygote leaves no process. No world: plain behave runs."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from support.procs import alive

from nslab.coverage.behave_runs import BehaveRuns, Zygote

FEATURE = """\
Feature: a project's own step
  Scenario: own
    Given my own step sees hello
"""
STEPS = """\
import os
import time

from behave import given

from nslab.behave.steps import *  # noqa: F403


@given("my own step sees {word}")
def own(context, word):
    said = context.config.userdata.get("word")
    print(f"own step: {said}")
    assert said == word, said


@given("my own step waits")
def waits(context):
    time.sleep(120)


@given("my own step waits while hold exists")
def holds(context):
    deadline = time.monotonic() + 60
    while os.path.exists("hold") and time.monotonic() < deadline:
        time.sleep(0.05)
"""


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The layout `nslab init` writes: steps/ beside features/, a pyproject with [tool.behave]."""
    (tmp_path / "features").mkdir()
    (tmp_path / "features" / "own.feature").write_text(FEATURE)
    (tmp_path / "steps").mkdir()
    (tmp_path / "steps" / "own_steps.py").write_text(STEPS)
    (tmp_path / "pyproject.toml").write_text('[tool.behave.userdata]\nword = "hello"\n')
    monkeypatch.chdir(tmp_path)
    return tmp_path


ARGS = ["--no-junit", "-f", "json", "-o", "out.json", "-f", "plain", "--no-capture", "features"]


def statuses(project: Path) -> list[str]:
    return [e["status"] for f in json.loads((project / "out.json").read_text()) for e in f["elements"]]


def test_a_forked_run_is_a_fresh_behave_with_the_projects_own_steps_and_settings(project: Path) -> None:
    zygote = Zygote()
    try:
        out, err = project / "out.txt", project / "err.txt"
        fresh = subprocess.run([sys.executable, "-m", "behave", *ARGS], capture_output=True, text=True)
        fresh_statuses = statuses(project)
        # the project's step, nslab's steps imported once more by it: no AmbiguousStep
        assert zygote.run(ARGS, out, err) == fresh.returncode == 0, err.read_text() + fresh.stdout
        assert statuses(project) == fresh_statuses == ["passed"]
        assert "own step: hello" in out.read_text()  # its stdout, as behave printed it
        assert zygote.running() == []
        # -D and [tool.behave] are the run's own: read again each run
        assert zygote.run(["-D", "word=other", *ARGS], out, err) == 1
        assert statuses(project) == ["failed"]
        assert "own step: other" in out.read_text()
        (project / "pyproject.toml").write_text('[tool.behave.userdata]\nword = "changed"\n')
        assert zygote.run(ARGS, out, err) == 1
        assert "own step: changed" in out.read_text()
    finally:
        zygote.close()


def test_a_run_is_stopped_by_its_pid_and_the_zygote_leaves_no_process(project: Path) -> None:
    (project / "features" / "own.feature").write_text(FEATURE.replace("sees hello", "waits"))
    zygote = Zygote()
    codes: list[int | None] = []
    runner = threading.Thread(target=lambda: codes.append(zygote.run(ARGS, project / "o", project / "e")))
    runner.start()
    try:
        deadline = time.monotonic() + 60
        while not zygote.running() and time.monotonic() < deadline:
            time.sleep(0.02)
        [pid] = zygote.running()
        time.sleep(1)  # into its step
        zygote.signal(signal.SIGTERM)
        runner.join(30)
        assert codes == [-signal.SIGTERM], (project / "e").read_text()
        assert not alive(pid)
    finally:
        proc = zygote._proc
        zygote.close()
    assert proc is not None and proc.poll() is not None  # the zygote itself ended and was reaped


def test_a_run_with_other_interpreter_settings_is_not_forked(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """PYTHON* variables act as Python starts: a run asking for others gets None (the
    caller starts a fresh behave), never a fork that ignores them."""
    zygote = Zygote()
    try:
        assert zygote.run(ARGS, project / "o", project / "e") == 0
        monkeypatch.setenv("PYTHONHASHSEED", "7")
        assert zygote.run(ARGS, project / "o", project / "e") is None
    finally:
        zygote.close()


def test_a_zygote_that_cannot_start_or_dies_leaves_the_run_to_a_fresh_behave(
    project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A slow verdict, never a wrong one: the run is behave's as if no zygote existed."""
    python = sys.executable
    refusing = tmp_path / "python"  # an interpreter that runs all but the zygote
    refusing.write_text(f'#!/bin/sh\n[ "$2" = nslab.behave.zygote ] && exit 1\nexec "{python}" "$@"\n')
    refusing.chmod(0o755)
    monkeypatch.setattr(sys, "executable", str(refusing))
    runs = BehaveRuns()
    try:
        done = runs.run(ARGS, project, fork=True)
        assert done.returncode == 0 and "own step: hello" in done.stdout, done.stdout + done.stderr
    finally:
        runs.close()
    monkeypatch.setattr(sys, "executable", python)
    (project / "features" / "own.feature").write_text(
        FEATURE.replace("sees hello", "waits while hold exists")
    )
    (project / "hold").touch()
    runs = BehaveRuns()
    got: list[subprocess.CompletedProcess[str]] = []
    runner = threading.Thread(target=lambda: got.append(runs.run(ARGS, project, fork=True)))
    runner.start()
    try:
        zygote = runs._zygote
        assert zygote is not None
        deadline = time.monotonic() + 60
        while not zygote.running() and time.monotonic() < deadline:
            time.sleep(0.02)
        [orphan] = zygote.running()
        assert zygote._proc is not None
        zygote._proc.kill()  # the zygote dies mid-run
        while alive(orphan) and time.monotonic() < deadline:
            time.sleep(0.02)  # ended by the client before it runs behave itself
        (project / "hold").unlink()
        runner.join(60)
        assert [g.returncode for g in got] == [0], [g.stderr for g in got]
        assert statuses(project) == ["passed"]
    finally:
        runs.close()
