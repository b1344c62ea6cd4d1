"""Ruleset mutation: would the scenarios notice if a rule were wrong?

The mutants (nslab.firewall.mutants): each rule deleted, its verdict turned, its ports moved by
one, its address and interface matches negated or changed, each set or map element
removed. Each mutant is the lab file and its ruleset files copied to a scratch folder
with the mutated file in place (the user's files are never touched); a mutant that does
not load (nft -c, iptables-restore in a throwaway world, as `nslab validate` checks) is
`invalid`, never killed.

Mutants are measured as the suite runs: the same settings (the suite's pyproject and
behave configuration; nslab passes no `rule_coverage` of its own, so the counting rules
nslab adds for rules written without `counter` are there or not exactly as in the
suite's runs). A first, unmutated run of the selected scenarios tells which pass; only
those can kill a mutant (one already red says nothing about the mutation), the others
are reported and left out. Each mutant runs every passing scenario (those whose traffic
reached the mutated file first) in a behave process that stops at the first red one:
`killed` if one turned red, `survived` if none did. Scenario results are read from
behave's JSON formatter, not its text. The public interface: the last line `mutation
score: K of N mutants killed` (N: the mutants that loaded), and `--format json`: every
mutant as {file, line, mutation, status, why} (and `element` for an element removed).

The rules of a host's firewall manager (ufw commands, ufw's user.rules, firewalld's zones
and policies) are mutated too (nslab.managers.mutants): the same runs and kill rules; the
manager's own check, or its refusal at the build, makes one `invalid`
(nslab.coverage.mutate_managers). What cannot be mutated is said (status `unmade`).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from nslab.config import Settings, find_pyproject
from nslab.coverage import mutate_managers
from nslab.coverage.behave_runs import BehaveRuns
from nslab.coverage.counts import Coverage
from nslab.coverage.mutate_managers import check_managers, refused
from nslab.errors import NslabError
from nslab.firewall.mutants import KINDS, Mutant, line_mutants, mutants, of_lab
from nslab.lab import Lab, load_lab
from nslab.managers.mutants import Unmade
from nslab.reach.lab_paths import in_lab

__all__ = [
    "KINDS", "Mutant", "MutantResult", "Mutator", "Unmade",
    "every_mutant", "line_mutants", "mutants", "of_lab",
]  # fmt: skip

# behave's JSON statuses that say a scenario ran and did not pass
_RED = {"failed", "error", "hook_error", "cleanup_error"}


@dataclass(frozen=True)
class MutantResult:
    mutant: Mutant
    status: str  # killed, survived, invalid; unmade (a manager's rule nslab cannot mutate)
    why: str = ""  # invalid: the load error; killed: the scenario that turned red; survived: why not

    def as_json(self) -> dict[str, object]:
        m = self.mutant
        return {
            "file": m.name,
            "line": m.line,
            "mutation": m.mutation,
            "status": self.status,
            "why": self.why,
            **({"element": m.element} if m.element else {}),
            **({"host": m.host, "manager": m.manager} if m.manager else {}),
        }

    @classmethod
    def unmade(cls, u: Unmade) -> MutantResult:
        """A rule nslab makes no mutant of, as the report says it."""
        return cls(Mutant(Path(u.name), u.name, u.line, u.what, ""), "unmade", u.why)


def every_mutant(lab: Lab, lab_path: Path) -> tuple[list[Mutant], list[Unmade]]:
    """The lab's ruleset files' mutants, then its managers' (and what of theirs cannot be)."""
    found, unmade = mutate_managers.of_lab(lab, lab_path)
    return [*of_lab(lab, lab_path), *found], unmade


def _words(text: str) -> str:
    return " ".join(text.split())


def scenario_statuses(report: Path) -> dict[str, str]:
    """Each scenario's location -> its status, from behave's JSON formatter output."""
    out: dict[str, str] = {}
    for feature in json.loads(report.read_text() or "[]"):
        for element in feature.get("elements", []):
            if element.get("type") != "background":
                out[str(element.get("location", ""))] = str(element.get("status", ""))
    return out


def suite_settings(behave_args: Sequence[str]) -> tuple[Settings, dict[str, str]]:
    """The settings the suite's behave runs get, as the hooks read them: [tool.nslab] under
    behave's userdata (its configuration files, then `behave_args`' -D), so what mutate runs
    itself (the load check) runs where the scenarios do."""
    from behave.configuration import Configuration

    config = Configuration(list(behave_args), load_config=True)
    userdata = {str(k): str(v) for k, v in config.userdata.items()}
    return Settings.from_sources(userdata, find_pyproject()), userdata


@dataclass
class Baseline:
    """The unmutated run: which scenarios pass, which fail, and what coverage saw."""

    passing: list[str]
    failing: list[str]
    # ruleset file -> the passing scenarios whose traffic reached it, first
    reaching: dict[Path, list[str]] = field(default_factory=dict)
    # (ruleset file, line) -> the rule's hits over the run (None: not counted)
    hits: dict[tuple[Path, int], int | None] = field(default_factory=dict)
    # (ruleset file, line) -> a map's or set's elements (spaces collapsed) -> their hits
    element_hits: dict[tuple[Path, int], dict[str, int]] = field(default_factory=dict)
    counted: bool = False  # rule coverage ran (the suite's settings may turn it off)

    def order(self, file: Path) -> list[str]:
        """Every passing scenario; those whose traffic reached `file` first, as a red one
        stops the run (a scenario that did not reach it still can turn red: a mutant may
        make a rule match what fell through to the policy before)."""
        first = [s for s in self.reaching.get(file, []) if s in self.passing]
        return first + [s for s in self.passing if s not in first]


class Mutator:
    """Mutants of one lab run against the scenarios, `jobs` at a time."""

    def __init__(
        self,
        lab_path: Path,
        features: Sequence[str],
        jobs: int,
        behave_args: Sequence[str] = (),
        progress: Callable[[str], None] | None = None,
        fork: bool = True,
    ) -> None:
        self.lab_path = lab_path.resolve()
        self.lab = load_lab(self.lab_path)
        self.features = list(features)
        self.jobs = jobs
        self.behave_args = list(behave_args)
        self.settings, self.userdata = suite_settings(self.behave_args)
        self.progress = progress or (lambda _: None)
        self.scratch = Path(tempfile.mkdtemp(prefix="nslab-mutate-"))
        self.baseline: Baseline | None = None
        # mutants' runs forked from one pre-imported behave (fork=False: a fresh Python
        # each, as bench compares); their worlds and reports lie under the scratch folder
        self._runs = BehaveRuns(fork)

    def close(self) -> None:
        """End every behave still running (SIGTERM: behave ends its worlds, as on Ctrl-C),
        then remove the scratch folder: a stopped `nslab mutate` leaves nothing."""
        self._runs.close()
        shutil.rmtree(self.scratch, ignore_errors=True)

    def _behave(
        self, paths: Sequence[str], reports: Path, settings: Sequence[str], stop: bool, fork: bool = False
    ) -> tuple[subprocess.CompletedProcess[str], dict[str, str]]:
        """One behave run over `paths` (`fork`: from the zygote); its scenarios' statuses
        from the JSON formatter. No `rule_coverage` here: the suite's own settings decide
        it, for every run alike; a coverage minimum is a run's gate, not a scenario's result."""
        reports.mkdir(parents=True, exist_ok=True)
        result = reports / "behave.json"
        args = [
            *(["--stop"] if stop else []), "--no-junit",
            "-f", "json", "-o", str(result), "-f", "plain", "--no-capture",
            "-D", f"reports={reports}", "-D", "html=", "-D", "rule_coverage_min=0",
            *settings, *self.behave_args, *paths,
        ]  # fmt: skip
        done = self._runs.run(args, reports, fork)
        try:
            statuses = scenario_statuses(result)
        except (OSError, ValueError):
            statuses = {}
        return done, statuses

    def unmutated(self) -> Baseline:
        """Run the selected scenarios on the lab as it is: which pass (only those can kill
        a mutant), which fail, which reach each ruleset file, each rule's hits."""
        reports = self.scratch / "unmutated"
        self.progress(f"running the scenarios on the unmutated lab: {' '.join(self.features)}")
        done, statuses = self._behave(self.features, reports, [], stop=False)
        passing = [s for s, st in statuses.items() if st == "passed"]
        failing = [s for s, st in statuses.items() if st in _RED]
        if not passing:
            if failing:
                shown = ", ".join(failing[:5]) + (f" and {len(failing) - 5} more" if len(failing) > 5 else "")
                what = f"all {len(failing)} fail: {shown}"
            else:  # behave itself went wrong: its last words say why
                what = "none ran: " + " / ".join((done.stdout + done.stderr).strip().splitlines()[-3:])
            raise NslabError(
                f"no scenario passes on the unmutated lab, so no mutant can be judged ({what})",
                "make some pass first (behave " + " ".join(self.features) + ")",
            )
        base = Baseline(passing, failing)
        report = reports / "rule-coverage.json"
        if report.exists():
            base.counted = True
            for f in Coverage.load([report]).files.values():
                if f.path and Path(f.lab).resolve() == self.lab_path:
                    path = Path(f.path).resolve()
                    # the golden-file step's exploration counts for no rule, yet tells a wrong one
                    reached = sorted(f.scenarios | f.explored)
                    base.reaching.setdefault(path, []).extend(s for s in reached if s in passing)
                    for r in f.rules:
                        if r.line is not None:
                            base.hits[(path, r.line)] = r.hits
                            if r.elements is not None:
                                found = {_words(k): v for k, v in r.elements.items()}
                                base.element_hits[(path, r.line)] = found
        self.baseline = base
        return base

    def _copy(self, n: int, mutant: Mutant) -> Path:
        """The lab file and its ruleset files under a scratch folder, in their own layout
        (absolute paths mirrored, so every relative path of the lab file still holds),
        the mutated file in place of the user's."""
        files = {self.lab_path}
        # every file and folder the lab names, as `nslab diff --base` copies a lab: ruleset
        # files with what they include, managers' folders, Docker's daemon.json (a copy
        # without the daemon.json made every mutant of a Docker lab `invalid`)
        for path in in_lab(self.lab):
            found = [path] if path.is_file() else [f for f in path.rglob("*") if f.is_file()]
            files.update(f.resolve() for f in found)
        for f in files:
            dest = self._mirror(n, f)
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(f, dest)
        self._mirror(n, mutant.file).write_text(mutant.text)
        return self._mirror(n, self.lab_path)

    def _mirror(self, n: int, path: Path) -> Path:
        """Where mutant `n`'s copy of a file lies."""
        path = path.resolve()
        return self.scratch / f"m{n}" / path.relative_to(path.anchor)

    def invalid(self, mutants: Sequence[Mutant]) -> dict[int, str]:
        """Which mutants do not load, and the one line why (in one throwaway world on the
        run's target: the kernel and nft the scenarios meet, not this machine's)."""
        from nslab.machine.provision import check_rulesets
        from nslab.machine.targets.registry import open_target
        from nslab.machine.world import World

        out = {}
        target = open_target(self.settings, self.userdata)
        self.progress(f"checking that {len(mutants)} mutants load, on the {target.name} target")
        try:
            with World.start(target) as scratch:
                try:  # the files as they are: if they fail the check, every mutant would
                    check_rulesets(scratch, self.lab)
                except NslabError as exc:  # (a wrong `invalid` for each is worse than none)
                    said = exc.problem.splitlines()[0]
                    for r in (r for h in self.lab.hosts for r in h.rulesets):  # as the lab names them
                        said = said.replace(str(r.path), os.path.relpath(r.path, self.lab_path.parent))
                    raise NslabError(
                        "the lab's ruleset files fail nslab's load check as they are, so no mutant "
                        f"can be checked: {said}",
                        f"make `nslab validate {self.lab_path.name}` pass first",
                    ) from None
                loaded: dict[int, tuple[Mutant, Lab]] = {}  # those that load, for their managers
                for n, m in enumerate(mutants):
                    try:
                        lab = load_lab(self._copy(n, m))
                        check_rulesets(scratch, lab)
                        loaded[n] = (m, lab)
                    except NslabError as exc:  # named by the user's file, not the scratch copy
                        copy = self._mirror(n, m.file)
                        out[n] = str(exc).splitlines()[0].replace(str(copy), m.name)
                for n, why in check_managers(loaded, scratch).items():
                    out[n] = why.replace(str(self.scratch / f"m{n}"), "")
        finally:
            target.close()
        return out

    def _survived(self, base: Baseline, m: Mutant, ran: int) -> str:
        """Why no scenario noticed, in the words coverage gives."""
        said = f"{ran} passing scenario{'s' if ran != 1 else ''} ran, none turned red"
        if not base.counted or not m.rule:
            return said
        if m.element and not m.manager:  # a set or map element: its own hits, not its rule's
            elements = base.element_hits.get((m.file.resolve(), m.rule))
            key = m.element.split(" : ")[0]  # coverage counts a map's elements by key
            hits = None if elements is None else elements.get(_words(key))
            if hits == 0:
                return f"{said}; the element matched none of their packets unmutated"
            if hits:
                return f"{said}; the element matched {hits} of their packets unmutated"
            return said
        hits = base.hits.get((m.file.resolve(), m.rule))
        if hits == 0:
            return f"{said}; the rule matched none of their packets unmutated"
        if hits:
            return f"{said}; the rule matched {hits} of their packets unmutated"
        return said

    def run(self, mutants: Sequence[Mutant]) -> list[MutantResult]:
        bad = self.invalid(mutants)  # first: it fails fast where the lab's files do
        base = self.baseline or self.unmutated()
        if base.failing:
            self.progress(not_used(base.failing))
        results: list[MutantResult | None] = [None] * len(mutants)
        for n, why in bad.items():
            results[n] = MutantResult(mutants[n], "invalid", why)
        todo = [n for n in range(len(mutants)) if n not in bad]
        done = 0

        def one(n: int) -> MutantResult:
            m = mutants[n]
            scenarios = base.order(m.file.resolve())
            lab_as = ["-D", f"lab_as={self.lab_path}={self._mirror(n, self.lab_path)}"]  # copied by invalid()
            r, statuses = self._behave(scenarios, self.scratch / f"m{n}" / "reports", lab_as, True, fork=True)
            red = [s for s, st in statuses.items() if st in _RED]
            if red and m.manager:  # no lab was built: the manager refused the mutant
                why = refused(self.scratch / f"m{n}" / "reports" / "behave.json", red[0])
                if why is not None:
                    return MutantResult(m, "invalid", why)
            if red:
                return MutantResult(m, "killed", red[0])
            if not statuses:
                tail = " / ".join((r.stdout + r.stderr).strip().splitlines()[-3:])
                raise NslabError(
                    f"mutant {m.words()} could not run: {tail}", "run its scenarios by hand to see why"
                )
            ran = sum(st == "passed" for st in statuses.values())
            return MutantResult(m, "survived", self._survived(base, m, ran))

        pool = ThreadPoolExecutor(max_workers=self.jobs)
        try:
            for n, result in zip(todo, pool.map(one, todo), strict=True):
                results[n] = result
                done += 1
                self.progress(f"{done} of {len(todo)} mutants run: {result.mutant.words()}: {result.status}")
        except BaseException:  # Ctrl-C, SIGTERM, a mutant that could not run: no mutant more
            pool.shutdown(wait=False, cancel_futures=True)
            self.close()  # ends the running behaves, so the threads waiting on them return
            raise
        finally:
            pool.shutdown(wait=True)
        return [r for r in results if r is not None]


def not_used(failing: Sequence[str]) -> str:
    """The line that names the scenarios red on the unmutated lab, which no mutant uses."""
    verb = "scenario fails" if len(failing) == 1 else "scenarios fail"
    return f"{len(failing)} {verb} on the unmutated lab and are not used: " + ", ".join(failing)


def score(results: Sequence[MutantResult]) -> str:
    killed = sum(r.status == "killed" for r in results)
    judged = sum(r.status in ("killed", "survived") for r in results)
    return f"mutation score: {killed} of {judged} mutants killed"


def nothing_scored(results: Sequence[MutantResult]) -> NslabError | None:
    """Mutants were made and none of them loaded: a score of 0 of 0 would read as a result.
    Mutating a rule (turned, moved, removed) keeps a file loadable, so when every copy
    fails it is the copy nslab made, or the lab, that fails: said, and the run fails."""
    invalid = [r for r in results if r.status == "invalid"]
    if not invalid or any(r.status in ("killed", "survived") for r in results):
        return None
    first = invalid[0]
    return NslabError(
        f"none of the {len(invalid)} mutants loaded, so nothing was scored (the first: "
        f"{first.mutant.name}:{first.mutant.line}: {first.why})",
        "check that the lab builds as it is (`nslab validate` and the suite); if it does, "
        "the mutants' copies of the lab lack something it needs: report it",
    )


def text_report(results: Sequence[MutantResult], base: Baseline | None = None) -> list[str]:
    """Every survivor (and why) and invalid mutant in words; what the score counts; the
    score last."""
    out = []
    for r in results:
        if r.status == "survived":
            why = f" ({r.why})" if r.why else ""
            out.append(f"{r.mutant.name}:{r.mutant.line}: {r.mutant.mutation} turns no scenario red{why}")
    for r in results:
        if r.status == "invalid":
            out.append(f"{r.mutant.name}:{r.mutant.line}: {r.mutant.mutation} does not load: {r.why}")
    for r in results:
        if r.status == "unmade":
            out.append(f"{r.mutant.name}:{r.mutant.line}: {r.mutant.mutation}: {r.why}")
    invalid = sum(r.status == "invalid" for r in results)
    if base is not None:
        if base.failing:
            out.append(not_used(base.failing))
        out.append(
            f"killed: one of the {len(base.passing)} scenarios that pass on the unmutated lab turned red"
        )
    if invalid:
        out.append(f"{invalid} mutant(s) did not load and are not scored")
    out.append(score(results))
    return out


def as_json(results: Sequence[MutantResult]) -> str:
    return json.dumps([r.as_json() for r in results], indent=1)
