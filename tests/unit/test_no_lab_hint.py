"""The fix a probe gives when a lab namespace is missing names a step that builds the lab as
a scenario needs it. It said 'Given the lab', which makes the namespaces without their
rulesets: a new user who left out the Background and followed it got wrong verdicts."""

from __future__ import annotations

import re
from importlib.resources import files

import pytest
from behave.step_registry import registry

import nslab.behave.steps  # noqa: F401  (registers every step)
from nslab.behave.steps import build
from nslab.errors import NO_LAB_FIX

pytestmark = pytest.mark.unit


def test_the_missing_namespace_fix_names_the_step_that_builds_the_whole_lab() -> None:
    named = re.findall(r"'Given ([^']+)'", NO_LAB_FIX)
    assert named, NO_LAB_FIX
    matched = [m.func for m in registry.steps["given"] if m.match(named[0])]
    # the step the fix names first is the one that runs every stage (rulesets included),
    # the same step nslab init's example feature starts with
    assert matched == [build.fully_provisioned], (named[0], matched)
    example = files("nslab.scaffold").joinpath("example.feature").read_text()
    assert f"Given {named[0]}" in example
