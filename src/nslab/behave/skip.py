"""A scenario that needs what the target lacks skips, saying why, as the kernel's netfilter
selftests do: behave's own SKIP line goes to a log nobody reads, so the reason is also said
once per run on the terminal, past behave's capture."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

from nslab.report.junit_names import NOT_SELECTED

if TYPE_CHECKING:
    from behave.configuration import Configuration
    from behave.model import Scenario
    from behave.runner import Context


def skip(context: Context, why: str) -> None:
    scenario = context.scenario
    scenario.skip(why)
    if context.nslab.first_time(why):
        print(f"nslab: skipping scenarios (first: {scenario.feature.filename}): {why}", file=sys.__stderr__)


def skip_reason(scenario: Scenario, config: Configuration) -> str:
    """Why a scenario did not run, as the JUnit file and nslab's page say it."""
    if getattr(scenario, "skip_reason", None):
        return str(scenario.skip_reason)
    if not scenario.should_run_with_tags(config.tag_expression):
        return f"excluded by the tag expression: {config.tag_expression}"
    return NOT_SELECTED
