"""firewalld on a lab host (`firewall = { firewalld = "FOLDER" }`): a daemon on a private
bus, writing one nft table (`inet firewalld`) through libnftables, with no counters and
rewritten on every reload, so a scenario's probe in its lab is traced by nftables."""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from nslab.commands import Runner
from nslab.errors import LabError
from nslab.lab import Lab
from nslab.managers import check
from nslab.managers.kind import ManagerKind

if TYPE_CHECKING:
    from nslab.firewall.mutants import Mutant
    from nslab.managers.mutants import Unmade


def zone_mutants(folder: Path, lab_dir: Path, host: str) -> tuple[list[Mutant], list[Unmade]]:
    """nslab.managers.mutants.zone_mutants, imported by `nslab mutate` only: every process
    that loads a lab imports the kinds, and the mutants' modules cost a behave start 5 to
    10 ms of CPU (least of 10, those modules stubbed out against not)."""
    from nslab.managers import mutants

    return mutants.zone_mutants(folder, lab_dir, host)


def refusals(found: Mapping[int, tuple[Mutant, Lab]], scratch: Runner) -> dict[int, str]:
    """`firewall-offline-cmd --check-config` on each mutant's folder, in the scratch world."""
    out: dict[int, str] = {}
    for n, (m, lab) in found.items():
        try:
            check.check_firewalld(KIND.hosts(lab), m.name, lambda: contextlib.nullcontext(scratch))
        except LabError as exc:
            out[n] = exc.problem.split(": ", 1)[-1]
    return out


KIND = ManagerKind(
    name="firewalld",
    commands=("firewall-cmd", "firewall-offline-cmd"),
    listings=(("nft", "list", "ruleset"),),
    syntax="nft",
    counts=False,
    status=("firewall-cmd", "--list-all"),
    bus=True,
    noun="elements",
    checks=(check.check_firewalld,),
    folder_mutants=zone_mutants,
    refusals=refusals,
    coverage="nslab.coverage.firewalld",
)
