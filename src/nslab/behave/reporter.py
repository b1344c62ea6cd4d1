"""behave's JUnit reporter with nslab's names and reasons (nslab.behave.junit_reporter),
and why a scenario was skipped, which the JUnit file and nslab's page both say."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

from nslab.behave.skip import skip_reason as skip_reason  # the page's reason too (run_report)

if TYPE_CHECKING:
    from behave.configuration import Configuration


def install(config: Configuration) -> None:
    """Put nslab's reporter in the place of behave's JUnit reporter (before any feature
    has been reported: from before_all)."""
    # behave imports its JUnit reporter only for a run that writes JUnit: without the
    # module there is no reporter to replace, and a run with --no-junit (or junit = false)
    # does not pay for importing it and nslab's (~5 ms of CPU a start).
    junit = sys.modules.get("behave.reporter.junit")
    if junit is None:
        return
    from nslab.behave.junit_reporter import NslabJUnitReporter

    for i, reporter in enumerate(config.reporters):
        if type(reporter) is junit.JUnitReporter:
            config.reporters[i] = NslabJUnitReporter(config)
