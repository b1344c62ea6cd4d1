"""A scenario that needs what the target lacks skips, saying why, as the kernel's netfilter
selftests do: behave's own SKIP line goes to a log nobody reads, so the reason is also said
once per run on the terminal, past behave's capture."""

from __future__ import annotations

import sys

from behave.runner import Context


def skip(context: Context, why: str) -> None:
    scenario = context.scenario
    scenario.skip(why)
    if context.nslab.first_time(why):
        print(f"nslab: skipping scenarios (first: {scenario.feature.filename}): {why}", file=sys.__stderr__)
