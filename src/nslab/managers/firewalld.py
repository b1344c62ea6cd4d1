"""firewalld on a lab host (`firewall = { firewalld = "FOLDER" }`): a daemon on a private
bus, writing one nft table (`inet firewalld`) through libnftables, with no counters and
rewritten on every reload, so a scenario's probe in its lab is traced by nftables."""

from __future__ import annotations

import contextlib
from collections.abc import Mapping

from nslab.commands import Runner
from nslab.errors import LabError
from nslab.firewall.mutants import Mutant
from nslab.lab import Lab
from nslab.managers import check, mutants
from nslab.managers.kind import ManagerKind


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
    folder_mutants=mutants.zone_mutants,
    refusals=refusals,
    coverage="nslab.coverage.firewalld",
)
