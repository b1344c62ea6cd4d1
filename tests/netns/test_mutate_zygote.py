"""nslab mutate forks its mutants' behave runs from one pre-imported zygote
(nslab.behave.zygote) instead of starting a Python for each, and a forked run is
the project's own run: its steps/ (a step of its own, nslab's imported again by it), its
-D, in real worlds. How a forked run matches a fresh behave, without worlds:
tests/unit/test_behave_zygote.py.

    web 10.53.0.80 on lan (input: tcp 80 and 443 accepted, the rest dropped)
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from conftest import host_snapshot, needs_netns
from support.labs import host, lan_lab

from nslab.coverage.mutate import Mutator, of_lab

NFT = """\
table inet web {
  chain input {
    type filter hook input priority 0; policy drop;
    tcp dport 80 accept
    tcp dport 443 accept
  }
}
"""
FEATURE = """\
Feature: a check of the project's own
  Scenario: web's file, as my own step reads it
    Given the lab is fully provisioned
    Then my own check finds web accepting tcp port 80
"""
# The project's own step: it alone sees the file's text, so it alone kills port 80's
# mutants (nslab's steps in this feature only build the lab); -D own=yes is the run's
STEPS = """\
from behave import then

from nslab.behave.steps import *  # noqa: F403


@then("my own check finds {name} accepting tcp port {port:d}")
def own_check(context, name, port):
    assert context.config.userdata.get("own") == "yes", "no -D own=yes"
    web = next(h for h in context.nslab.lab.hosts if h.name == name)
    text = "".join(r.path.read_text() for r in web.rulesets)
    assert f"tcp dport {port} accept" in text, text
"""


def _project(where: Path) -> Path:
    """A project as `nslab init` lays one out: environment.py and steps/ beside features/."""
    where.mkdir()
    lab = lan_lab("zyg", "10.53.0.0/24", host("web", "10.53.0.80", firewall='{ nft = "web.nft" }'))
    (where / "lab.toml").write_text(lab)
    (where / "web.nft").write_text(NFT)
    (where / "pyproject.toml").write_text('[tool.nslab]\nlab = "lab.toml"\n')
    (where / "environment.py").write_text("from nslab.behave.hooks import *  # noqa: F403\n")
    (where / "steps").mkdir()
    (where / "steps" / "own_steps.py").write_text(STEPS)
    (where / "features").mkdir()
    (where / "features" / "own.feature").write_text(FEATURE)
    return where / "lab.toml"


@needs_netns
def test_mutants_run_forked_from_one_python_and_a_projects_own_step_kills(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Before, each mutant started `python -m behave` (N mutants: N + 1 interpreters, with
    the unmutated run); now one zygote forks them all: 2 interpreters whatever N."""
    lab = _project(tmp_path / "proj")
    monkeypatch.chdir(lab.parent)
    started = tmp_path / "started.log"  # every interpreter the Mutator starts, one argv a line
    wrapper = tmp_path / "python"
    wrapper.write_text(f'#!/bin/sh\nprintf "%s\\n" "$*" >> "{started}"\nexec "{sys.executable}" "$@"\n')
    wrapper.chmod(0o755)
    monkeypatch.setattr(sys, "executable", str(wrapper))
    before = host_snapshot()
    mutator = Mutator(lab, ["features"], 2, behave_args=["-D", "own=yes"])
    try:
        mutants = of_lab(mutator.lab, lab)
        results = mutator.run(mutants)
    finally:
        mutator.close()
    assert host_snapshot() == before
    got = {(r.mutant.line, r.mutant.mutation): (r.status, r.why) for r in results}
    assert len(got) >= 6, got
    for (line, mutation), (status, why) in got.items():
        if line == 4:  # tcp dport 80 accept: only the project's own step sees it changed
            assert (status, why) == ("killed", "features/own.feature:2"), (mutation, why)
        else:
            assert status == "survived", (line, mutation, why)
    argvs = started.read_text().splitlines()
    assert sum(a.startswith("-m behave") for a in argvs) == 1, argvs  # the unmutated run
    assert sum(a.startswith("-m nslab.behave.zygote") for a in argvs) == 1, argvs
