"""The run's report from behave's model: a record per scenario (its verdict, and for a
failure what after_scenario kept of it: the expected-vs-got table, the diagnostics per
place, the diagram), written as nslab's page (nslab.report.html) beside behave's steps page."""

from __future__ import annotations

import contextlib
import sys
from pathlib import Path

from behave.model import Feature, Scenario
from behave.model_core import Status
from behave.runner import Context

from nslab.behave import reporter, suggest
from nslab.config import find_pyproject
from nslab.coverage import report as coverage_report
from nslab.report import html as report
from nslab.report.junit_names import NOT_SELECTED
from nslab.scenario.session import LabSession

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib


def steps_page(page: Path) -> Path:
    """Where behave-html-pretty-formatter's page of every step goes, beside nslab's report:
    reports/index.html -> reports/steps.html, parallel/worker-1.html -> worker-1-steps.html."""
    return page.with_name("steps.html" if page.stem == "index" else f"{page.stem}-steps.html")


def write(context: Context) -> None:
    """nslab's page (failures first) and its records beside it, from every scenario."""
    session: LabSession = context.nslab
    page = Path(session.settings.html)
    records = []
    for feature in context._runner.features:
        for scenario in feature.walk_scenarios():
            found = record(context, feature, scenario)
            if found is not None:
                found.steps_page = steps_page(page).name
                records.append(found)
    try:
        links = [
            ("all steps", steps_page(page).name),
            *coverage_report.link(page, Path(session.settings.reports)),
        ]
        report.write(report.titled(title(session), records), records, page, links)
    except OSError as exc:  # a full disk: one line, the verdicts stand
        print(f"nslab: could not write the HTML report {page}: {exc.strerror or exc}", file=sys.stderr)


def record(context: Context, feature: Feature, scenario: Scenario) -> report.Record | None:
    status = scenario.status
    common = {
        "feature": feature.name or Path(feature.filename).stem,
        "scenario": scenario.name,
        "location": str(scenario.location),
        "seconds": round(scenario.duration, 3),
        "lab": getattr(context, "lab_of", {}).get(str(scenario.location), ""),
    }
    if status == Status.passed:
        return report.Record(**common, status="passed")
    if status in (Status.skipped, Status.untested):
        why = reporter.skip_reason(scenario, context.config)
        if why == NOT_SELECTED:
            return None  # another worker's or shard's scenario
        if status == Status.untested:
            why = "not run: the run stopped before it"
        return report.Record(**common, status="skipped", reason=why)
    step = next((s for s in scenario.all_steps if s.status.is_error() or s.status.is_failure()), None)
    if step is None:
        step = next((s for s in scenario.all_steps if s.status == Status.undefined), None)
    said = str(step.exception) if step is not None and isinstance(step.exception, AssertionError) else ""
    message = said or (step.error_message if step is not None else "") or str(scenario.exception or "")
    if step is not None and step.status == Status.undefined:
        close = suggest.did_you_mean(step.name, context._runner.step_registry)
        message = "undefined step" + (f"; did you mean: {' | '.join(close)}" if close else "")
    found = context.failures.get(str(scenario.location), {})
    return report.Record(
        **common,
        status="failed",
        step=f"{step.keyword} {step.name}" if step is not None else "(a hook)",
        step_location=str(step.location) if step is not None else "",
        message=(message or "").strip(),
        table=found.get("table", []),
        places=found.get("places", []),
        diagram=found.get("diagram", ""),
    )


def title(session: LabSession) -> str:
    """The run's name: project, lab, target (the lab the run was given; `report.titled`
    names the labs its scenarios ran on instead)."""
    project = Path.cwd().name
    pyproject = find_pyproject()
    if pyproject is not None:
        with contextlib.suppress(OSError, ValueError):
            project = (
                tomllib.loads(pyproject.read_text()).get("project", {}).get("name") or pyproject.parent.name
            )
    lab = getattr(session.run_lab or session.lab, "name", "") or "seed"
    return f"nslab: {project} · lab {lab} · target {session.settings.target}"
