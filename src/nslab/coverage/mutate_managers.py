"""What `nslab mutate` does for a manager's mutants (nslab.managers.mutants makes them)
beside what it does for a ruleset file's: the manager's own check before any mutant runs,
and a build the manager refused read as such. A mutant the manager refuses is `invalid`
(not scored), never `killed`: its scenarios turn red because no lab was built, which says
nothing about the suite.

- a ufw command: ufw's own parser (nslab.managers.check, as `nslab validate` runs it), all
  of them in one python;
- a firewalld folder: `firewall-offline-cmd --check-config` on a scratch copy, in the
  throwaway world of the ruleset files' check;
- a ufw folder's rules files (user.rules): loaded as ufw-init loads them, in the same
  throwaway world (nslab.managers.ufw_rules, as `nslab validate` does);
- and whatever passes those yet fails at the build (`nslab: managers: no manager started
  on ...`) is read from the red scenario's own error and makes the mutant invalid, naming
  the manager's words.
"""

from __future__ import annotations

import contextlib
import json
import re
import subprocess
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

from nslab.commands import Runner
from nslab.errors import LabError
from nslab.firewall.mutants import Mutant
from nslab.lab import Lab
from nslab.managers import check
from nslab.managers.mutants import UFW_FILES
from nslab.managers.ufw_rules import load_ufw_folders

# the managers stage's summary of a failed start (provision/56-managers.sh), and its lines
# naming why (a ufw command, firewalld's refusal, ufw's own start)
_NONE_STARTED = "nslab: managers: no manager started on"
_WHY = re.compile(r"nslab: (\S+: `ufw .*` failed: .*|firewalld on \S+ refused the lab's configuration .*)")


def ufw_refusals(commands: Sequence[tuple[int, list[str]]]) -> dict[int, str]:
    """Mutant n -> ufw's words, for each (n, argv) its parser refuses; one python for all.
    Nothing where ufw is not installed (the build then says it)."""
    python = check.interpreter()
    if python is None or not commands:
        return {}
    argvs = [argv for _, argv in commands]
    r = subprocess.run(
        [python, "-c", check.PARSE], input=json.dumps(argvs), capture_output=True, text=True, timeout=120
    )
    try:
        said = json.loads(r.stdout)
    except ValueError:
        return {}
    if not isinstance(said, list) or len(said) != len(argvs):
        return {}
    return {
        n: f"ufw refuses `ufw {' '.join(argv)}`: {w}"
        for (n, argv), w in zip(commands, said, strict=True)
        if w
    }


def check_managers(mutants: Mapping[int, tuple[Mutant, Lab]], scratch: Runner) -> dict[int, str]:
    """Mutant n -> why its manager refuses it, for the managers' mutants of `mutants` (n ->
    the mutant and its copy of the lab, loaded)."""
    out: dict[int, str] = {}
    commands: list[tuple[int, list[str]]] = []
    for n, (m, lab) in mutants.items():
        if m.manager == "ufw" and m.file.name not in UFW_FILES:  # a lab file's command
            host = lab.namespace(m.host)
            if host.manager is not None:
                commands.extend((n, list(c)) for c in host.manager.commands)
        elif m.manager == "ufw":  # a folder's user.rules: loaded as ufw-init loads them
            try:
                load_ufw_folders(scratch, lab)
            except LabError as exc:
                out[n] = exc.problem
        elif m.manager == "firewalld":
            try:
                check.check_firewalld(lab, m.name, lambda: contextlib.nullcontext(scratch))
            except LabError as exc:
                out[n] = exc.problem.split(": ", 1)[-1]
    for n, why in ufw_refusals(commands).items():
        out.setdefault(n, why)
    return out


def _errors(report: Path, scenario: str) -> Iterator[str]:
    """The error lines behave's JSON formatter kept for one scenario (its steps')."""
    try:
        features = json.loads(report.read_text() or "[]")
    except (OSError, ValueError):
        return
    for feature in features:
        for element in feature.get("elements", []):
            if str(element.get("location", "")) != scenario:
                continue
            for step in element.get("steps", []):
                said = (step.get("result") or {}).get("error_message") or ""
                yield from (said if isinstance(said, list) else str(said).splitlines())


def refused(report: Path, scenario: str) -> str | None:
    """Why the managers stage failed, where that turned the scenario red (else None)."""
    lines = [ln.strip() for ln in _errors(report, scenario)]
    if not any(_NONE_STARTED in ln for ln in lines):
        return None
    return next(  # without the stage's fix, which speaks of the lab file's commands
        (re.sub(r" \(fix: .*\)$", "", m[1]) for ln in lines if (m := _WHY.search(ln))),
        "the managers stage failed: " + next(ln for ln in lines if _NONE_STARTED in ln),
    )
