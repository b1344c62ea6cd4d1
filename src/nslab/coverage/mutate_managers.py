"""What `nslab mutate` does for a manager's mutants beside what it does for a ruleset
file's: which mutants each host's manager gets (its kind's makers, nslab.managers.mutants),
the manager's own check before any mutant runs (its kind's `refusals`), and a build the
manager refused read as such. A mutant the manager refuses is `invalid` (not scored), never
`killed`: its scenarios turn red because no lab was built, which says nothing about the
suite.

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

import json
import re
from collections.abc import Iterator, Mapping
from pathlib import Path

from nslab.commands import Runner
from nslab.firewall.mutants import Mutant
from nslab.lab import Lab
from nslab.managers.common import KINDS
from nslab.managers.mutants import Unmade

# the managers stage's summary of a failed start (provision/56-managers.sh), and its lines
# naming why (a ufw command, firewalld's refusal, ufw's own start)
_NONE_STARTED = "nslab: managers: no manager started on"
_WHY = re.compile(r"nslab: (\S+: `ufw .*` failed: .*|firewalld on \S+ refused the lab's configuration .*)")


def of_lab(lab: Lab, lab_path: Path) -> tuple[list[Mutant], list[Unmade]]:
    """Every mutant of the rules the lab's managers are given, host by host (each kind's
    makers, nslab.managers.mutants), and what could not be mutated. A folder several hosts
    share is mutated once (a mutant changes it for each of them, named by all: `gw, gw2`),
    as a ruleset file several load is."""
    lab_dir = lab_path.resolve().parent
    out: list[Mutant] = []
    unmade: list[Unmade] = []
    sharing: dict[tuple[str, Path], list[str]] = {}
    for host in lab.hosts:
        if host.manager is not None and host.manager.folder is not None:
            sharing.setdefault((host.manager.kind, host.manager.folder.resolve()), []).append(host.name)
    for host in lab.hosts:
        manager = host.manager
        if manager is None:
            continue
        kind = KINDS[manager.kind]
        if manager.commands:
            made = kind.command_mutants
            m, u = (
                made(lab_path.resolve(), lab_path.name, host)
                if made
                else ([], [_unmade(kind.name, host.name)])
            )
        elif manager.folder is not None:
            names = sharing.pop((manager.kind, manager.folder.resolve()), [])
            if not names:
                continue  # an earlier host's, mutated with it
            made_of = kind.folder_mutants
            m, u = (
                made_of(manager.folder, lab_dir, ", ".join(names))
                if made_of
                else ([], [_unmade(kind.name, manager.folder.name)])
            )
        else:
            continue
        out.extend(m)
        unmade.extend(u)
    return out, unmade


def _unmade(kind: str, what: str) -> Unmade:
    return Unmade(what, 0, f"{kind}'s rules", f"nslab makes no mutant of {kind}'s rules")


def check_managers(mutants: Mapping[int, tuple[Mutant, Lab]], scratch: Runner) -> dict[int, str]:
    """Mutant n -> why its manager refuses it, for the managers' mutants of `mutants` (n ->
    the mutant and its copy of the lab, loaded): each kind's own check of its mutants."""
    out: dict[int, str] = {}
    for kind in KINDS.values():
        mine = {n: (m, lab) for n, (m, lab) in mutants.items() if m.manager == kind.name}
        if mine and kind.refusals is not None:
            out |= kind.refusals(mine, scratch)
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
