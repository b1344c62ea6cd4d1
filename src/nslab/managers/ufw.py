"""ufw on a lab host (`firewall = { ufw = [...] }` or `{ ufw = "FOLDER" }`): its rules are
iptables rules (iptables-nft on Debian 12) with their own counters, in chains named
ufw-* (`ufw-user-input rule 1`); its default policies are the built-in chains'."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from nslab.commands import Runner
from nslab.errors import LabError
from nslab.lab import Host, Lab
from nslab.managers import check, ufw_rules
from nslab.managers.kind import ManagerKind

if TYPE_CHECKING:
    from nslab.firewall.mutants import Mutant
    from nslab.managers.mutants import Unmade

# The mutants' module is imported by `nslab mutate` only (these functions, refusals): every
# process that loads a lab imports the kinds, and the mutants' modules cost a behave start
# 5 to 10 ms of CPU (least of 10, those modules stubbed out against not).


def command_mutants(lab_path: Path, name: str, host: Host) -> tuple[list[Mutant], list[Unmade]]:
    from nslab.managers import mutants

    return mutants.command_mutants(lab_path, name, host)


def rules_mutants(folder: Path, lab_dir: Path, host: str) -> tuple[list[Mutant], list[Unmade]]:
    from nslab.managers import mutants

    return mutants.rules_mutants(folder, lab_dir, host)


def ufw_refusals(commands: list[tuple[int, list[str]]]) -> dict[int, str]:
    """Mutant n -> ufw's words, for each (n, argv) its parser refuses; one python for all.
    Nothing where ufw is not installed (the build then says it)."""
    said = check.ufw_parse([argv for _, argv in commands], timeout=120) if commands else []
    if isinstance(said, str):
        return {}
    return {
        n: f"ufw refuses `ufw {' '.join(argv)}`: {a['error']}"
        for (n, argv), a in zip(commands, said, strict=True)
        if "error" in a
    }


def refusals(found: Mapping[int, tuple[Mutant, Lab]], scratch: Runner) -> dict[int, str]:
    """A mutant of a lab file's command: ufw's parser on the host's commands (all of them in
    one python); of a folder's user.rules: its files loaded as ufw-init loads them."""
    from nslab.managers import mutants

    out: dict[int, str] = {}
    commands: list[tuple[int, list[str]]] = []
    for n, (m, lab) in found.items():
        if m.file.name not in mutants.UFW_FILES:  # a lab file's command
            host = lab.namespace(m.host)
            if host.manager is not None:
                commands.extend((n, list(c)) for c in host.manager.commands)
            continue
        try:
            ufw_rules.load_ufw_folders(scratch, KIND.hosts(lab))
        except LabError as exc:
            out[n] = exc.problem
    for n, why in ufw_refusals(commands).items():
        out.setdefault(n, why)
    return out


KIND = ManagerKind(
    name="ufw",
    commands=("ufw",),
    listings=(("iptables-save",), ("ip6tables-save",)),
    syntax="iptables",
    counts=True,
    status=("ufw", "status", "verbose"),
    checks=(check.check_ufw, ufw_rules.check_ufw_folders),
    load=ufw_rules.load_ufw_folders,
    command_mutants=command_mutants,
    folder_mutants=rules_mutants,
    refusals=refusals,
    coverage="nslab.coverage.ufw",
)
