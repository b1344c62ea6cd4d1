"""behave's JUnit reporter with nslab's names and reasons (see nslab.report.junit for why).

Every testcase is named from the feature's path below the project's features/ folder,
whatever paths or `FILE:LINE` locations behave was given; a skipped testcase says why in
its `<skipped message=...>`: the skip's own reason (a missing kernel feature or tool), the
tag expression, or that this run was given other scenarios of the feature.

Imported only by a run that writes JUnit (nslab.behave.reporter.install): behave itself
imports its JUnit reporter only then.
"""

from __future__ import annotations

from pathlib import Path

from behave.model import Feature, Scenario
from behave.model_core import Status
from behave.reporter.junit import JUnitReporter

from nslab.behave.skip import skip_reason
from nslab.report.junit_names import feature_name


class NslabJUnitReporter(JUnitReporter):  # type: ignore[misc]
    def make_feature_filename(self, feature: Feature) -> str:
        return feature_name(Path(feature.filename), Path(self.config.base_dir or "."))

    def _process_scenario(self, scenario: Scenario, report: object) -> None:
        before = len(report.testcases)  # type: ignore[attr-defined]
        super()._process_scenario(scenario, report)
        if scenario.status != Status.skipped or len(report.testcases) == before:  # type: ignore[attr-defined]
            return
        skipped = report.testcases[-1].find("skipped")  # type: ignore[attr-defined]
        if skipped is not None:
            skipped.set("message", skip_reason(scenario, self.config))
