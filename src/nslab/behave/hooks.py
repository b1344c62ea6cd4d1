"""nslab's behave hooks: one lab session per run, a fresh world per scenario, diagnostics on
failure. A repository's environment.py (beside its steps/, not in features/, so `behave
features/` finds both) imports them: `from nslab.behave.hooks import *`.
"""

from __future__ import annotations

import os
import shutil
import signal
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from behave.model import Feature, Scenario
from behave.model_core import Status
from behave.runner import Context

from nslab.behave import reporter
from nslab.behave.skip import skip
from nslab.config import Settings, find_pyproject
from nslab.errors import NslabError
from nslab.lab import bundled_labs, load_lab
from nslab.scenario.session import LabSession

if TYPE_CHECKING:
    from nslab.coverage.counts import Coverage

# Imported where used, not here: the rule coverage's counts and reports (only a run that
# counts rules: -D rule_coverage=on, the default), nslab's page (only a run that writes
# one), the failure bundle (only a failed scenario), "did you mean" (only an undefined
# step). A behave start imported them all: nslab's imports took 115-126 ms of CPU, now
# 85-89 (least of 15 starts, after behave's own imports; 112 nslab modules, now 105).
# The modules named here, for a process that forks runs and wants them imported once
# (nslab.behave.zygote): keep in step with the imports inside the hooks below.
DEFERRED = (
    "nslab.coverage.counts",
    "nslab.coverage.report",
    "nslab.behave.run_report",
    "nslab.report.failure",
    "nslab.report.diagnostics",
)


def _stop(signum: int, frame: object) -> None:
    """SIGTERM (a CI job cancelled, `timeout`) stops the run like Ctrl-C: behave marks the
    interrupted scenario, writes JUnit and the page, and the worlds end. Without it the run
    just vanished, with no report of where it was."""
    raise KeyboardInterrupt


def before_all(context: Context) -> None:
    signal.signal(signal.SIGTERM, _stop)
    reporter.install(context.config)
    userdata = dict(context.config.userdata)
    try:
        settings = Settings.from_sources(userdata, find_pyproject())
        junit = Path(context.config.junit_directory) if context.config.junit else None
        html = Path(settings.html).parent if settings.html else None
        for folder in (Path(settings.reports), junit, html):
            if folder is not None:
                _writable(folder)
        context.nslab = LabSession.open(settings, userdata)
        if settings.rule_coverage == "on":
            from nslab.coverage.counts import Coverage

            context.nslab.coverage = Coverage()
    except NslabError as exc:
        # One clear line and exit 2, before any world: raising here made behave add
        # "ABORTED: HOOK-ERROR in before_all: SystemExit" and "ABORTED: By user." although
        # nobody aborted anything.
        print(f"nslab: {exc}", file=sys.stderr, flush=True)
        sys.stdout.flush()
        os._exit(2)
    context.reports = Path(settings.reports)
    context.failures = {}  # scenario location -> what the report shows of its failure
    context.lab_of = {}  # scenario location -> the name of the lab it ran on
    if settings.html:
        from nslab.behave import run_report

        _add_html_report(context, str(run_report.steps_page(Path(settings.html))))
    # Bundles from an earlier run would describe failures that no longer exist; JUnit files
    # from an earlier run (another subset, or a parallel run's merged file) would be counted
    # by CI as if they were this run's.
    # Workers of `nslab run -j N` share the folder; their runner cleared it before starting
    # them, and a late worker must not delete a bundle an early one has already written.
    if not settings.worker:
        shutil.rmtree(context.reports / "diagnostics", ignore_errors=True)
    if context.config.junit and context.config.junit_directory:
        for stale in Path(context.config.junit_directory).glob("*.xml"):
            stale.unlink(missing_ok=True)


def _writable(folder: Path) -> None:
    """A reports folder nslab or behave will write: one line now, before anything runs.

    Not an exception for behave: its JUnit reporter would still write at the end and die
    with a traceback on the same folder. The process ends here (no world is running yet)."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        # A file of this process's own: the workers of `nslab run -j N` share the reports
        # folder, and a fixed name let one worker delete the other's probe (CI saw a worker
        # exit "cannot write reports ... No such file" and its half of the suite vanish).
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".nslab-write-check-"):
            pass
    except OSError as exc:
        print(
            f"nslab: cannot write reports to {folder}: {exc.strerror or exc} "
            "(fix: -D reports=DIR and --junit-directory DIR on a writable disk, or -D html= for no page)",
            file=sys.stderr,
            flush=True,
        )
        os._exit(2)


def _tagged_lab(scenario: Scenario) -> Path | None:
    """`@lab:NAME` on a feature or scenario: labs/NAME.toml in the feature's folder or the
    nearest folder above it that has one (else nslab's own labs): the feature's lab,
    whatever -D lab= says."""
    # the nearest says: the scenario's own tags, then its rule's, then its feature's (not
    # effective_tags, a set: its "last" lab tag changed with the interpreter's hash seed)
    rule = getattr(scenario, "rule", None)
    for tags in (scenario.tags, rule.tags if rule is not None else [], scenario.feature.tags):
        names = [t.split(":", 1)[1] for t in tags if t.startswith("lab:")]
        if names:
            break
    else:
        return None
    here = Path(scenario.feature.filename).resolve().parent
    for folder in (here, *here.parents):
        candidate = folder / "labs" / f"{names[-1]}.toml"
        if candidate.is_file():
            return candidate
    bundled = bundled_labs() / f"{names[-1]}.toml"
    if bundled.is_file():
        return bundled
    named = _lab_file_named(names[-1], (here, *here.parents))
    raise NslabError(
        f"@lab:{names[-1]}: no labs/{names[-1]}.toml beside the feature or above it",
        f"the tag names a lab file, not the lab's name: {os.path.relpath(named)} holds lab "
        f"{names[-1]!r}, tag it @lab:{named.stem}"
        if named
        else "add the lab file there",
    )


def _lab_file_named(name: str, folders: Sequence[Path]) -> Path | None:
    """The nearest labs/*.toml whose [lab] name is `name` (a tag written with the lab's name)."""
    for folder in folders:
        for candidate in sorted((folder / "labs").glob("*.toml")):
            try:
                if load_lab(candidate).name == name:
                    return candidate
            except NslabError:  # another lab file's problem is not this tag's
                continue
    return None


def before_scenario(context: Context, scenario: Scenario) -> None:
    context.nslab.use_lab(_tagged_lab(scenario))
    # the report's title names the labs scenarios ran on, not only the run's own
    context.lab_of[str(scenario.location)] = context.nslab.lab.name
    missing = context.nslab.missing_feature()
    if missing:
        skip(context, missing)  # skip, not fail: a missing kernel feature or tool, named
        return
    context.nslab.check_lab()
    if "seed-literal" in scenario.effective_tags and not context.nslab.is_seed_lab:
        scenario.skip(
            "@seed-literal: quotes the seed lab's values (10.16.0.0/24, br0, NAVY) and runs on the "
            "seed lab only"
        )
        return
    if "host" not in scenario.effective_tags:
        context.nslab.new_world()
    elif context.nslab.may_use_host:
        context.nslab.host_world()  # the VM's root namespace, torn down before and after
    else:
        scenario.skip(
            "@host scenarios change a machine's real root namespace: "
            "run them on a disposable VM (-D target=vagrant)"
        )


def after_scenario(context: Context, scenario: Scenario) -> None:
    session: LabSession = context.nslab
    try:
        if session.world is None:
            return
        _count_rules(session, scenario)
        embed = _html_embedder(context)
        if scenario.status == Status.failed:
            from nslab.report import failure

            found = failure.of(session, _why(scenario))  # from the scenario's record
            bundle, diagram = found.bundle, found.diagram
            context.failures[str(scenario.location)] = found.for_page()
            path = _bundle_path(context.reports, scenario)
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(bundle)
                print(f"\n    nslab: diagnostics for this failure: {path}\n", file=sys.stderr)
            except OSError as exc:  # a full disk must not hide the verdict
                print(f"\n    nslab: could not write {path}: {exc.strerror or exc}\n", file=sys.stderr)
            context.attach("text/plain", bundle.encode())
            if embed:
                embed("text/plain", bundle, caption="Diagnostics (nslab)", compress=False)
                embed("text/html", diagram, caption="Lab diagram, as it was at the failure", compress=False)
        elif embed:
            embed("text/plain", session.target.log.render(), caption="Commands and outputs")
    finally:
        session.end_world()


def _coverage(session: LabSession) -> Coverage | None:
    """The run's rule coverage, which the session only starts at each build."""
    if session.coverage is None:  # not counting: nothing of the coverage to import
        return None
    from nslab.coverage.counts import Coverage

    return session.coverage if isinstance(session.coverage, Coverage) else None


def _count_rules(session: LabSession, scenario: Scenario) -> None:
    """The scenario's hits on the user's rules, into the run's rule coverage."""
    cov = _coverage(session)
    if cov is None:
        return
    try:
        cov.end(session.w, str(scenario.location))
    except (NslabError, OSError, ValueError) as exc:  # the verdict stands; coverage says why not
        print(f"\n    nslab: rule coverage of this scenario not counted: {exc}\n", file=sys.stderr)


def _report_rules(context: Context) -> None:
    """The run's rule coverage: a worker of `nslab run -j N` leaves its counts for the
    runner to merge; a run of its own writes the reports, says the line, and fails below
    rule_coverage_min (counted as a hook failure: behave's exit status, no traceback)."""
    session: LabSession = context.nslab
    cov = _coverage(session)
    if cov is None:
        return
    worker = session.settings.worker
    if worker:
        cov.save(context.reports / "parallel" / f"rule-coverage-{worker}.json")
        return
    from nslab.coverage import report as coverage_report

    failed = coverage_report.finish(cov, context.reports, session.settings.rule_coverage_min)
    if failed and hasattr(context._runner, "hook_failures"):
        context._runner.hook_failures += 1


def _suggest(features: list[Feature], step_registry: object) -> None:
    """Each undefined step close to a known phrasing: 'did you mean' (behave's own answer is
    a snippet to implement the step anew). From after_all: behave runs no scenario hook for
    a scenario with an undefined step."""
    for step in (st for f in features for sc in f.walk_scenarios() for st in sc.all_steps):
        if step.status == Status.undefined:
            from nslab.behave import suggest

            close = suggest.did_you_mean(step.name, step_registry)
            if close:
                print(
                    f"nslab: undefined step '{step.keyword} {step.name}' ({step.location}): "
                    f"did you mean: {' | '.join(close)}",
                    file=sys.__stderr__,
                )


def _why(scenario: Scenario) -> str:
    """The failing step and its message first: the bundle says why without a rerun."""
    for step in scenario.all_steps:
        if step.status in (Status.failed, Status.error):
            where = f"{step.keyword} {step.name}  ({step.location})"
            return f"===== why it failed =====\n{where}\n{(step.error_message or '').rstrip()}\n\n"
    return ""


def _add_html_report(context: Context, path: str) -> None:
    """The HTML report on every run, at a path a run can choose (parallel workers each
    write their own): behave-html-pretty-formatter, added as if given with -f/-o."""
    from behave.formatter.base import StreamOpener
    from behave_html_pretty_formatter import PrettyHTMLFormatter

    if any(getattr(f, "name", "") == "html-pretty" for f in context._runner.formatters):
        return  # asked for on the command line already

    class Page(PrettyHTMLFormatter):  # type: ignore[misc]
        def close(self) -> None:
            try:
                super().close()
            except OSError as exc:  # a full disk: say so in one line, keep the verdicts
                why = exc.strerror or exc
                print(f"nslab: could not write the HTML report {path}: {why}", file=sys.stderr)

    context._runner.formatters.append(Page(StreamOpener(path), context.config))


def _html_embedder(context: Context):  # type: ignore[no-untyped-def]
    """The HTML report's embed() (behave-html-pretty-formatter's documented way), if it runs."""
    for formatter in context._runner.formatters:
        if getattr(formatter, "name", "") == "html-pretty":
            return formatter.embed
    return None


def after_all(context: Context) -> None:
    _suggest(context._runner.features, context._runner.step_registry)
    if hasattr(context, "nslab"):
        _report_rules(context)
    if hasattr(context, "nslab") and context.nslab.settings.html:
        from nslab.behave import run_report

        run_report.write(context)
    if hasattr(context, "nslab"):
        context.nslab.close()


def _bundle_path(reports: Path, scenario: Scenario) -> Path:
    from nslab.report import diagnostics

    return reports / "diagnostics" / diagnostics.bundle_name(scenario.feature.filename, scenario.name)
