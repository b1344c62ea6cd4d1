"""What nslab knows of each firewall manager a lab host may run, in one place per kind
(nslab.managers.ufw, nslab.managers.firewalld; its package and programs are its row of
nslab.needs, what its lab key takes is its row of nslab.lab.managers.MANAGERS), so that
no module outside those asks a manager's name: each asks the kind, from the registry
nslab.managers.common.KINDS. How it is started lives in the managers stage
(provision/56-managers.sh), one branch a kind.

A kind gives plain fields: data, or the functions of its own modules (its checks, its
mutants). Its rule coverage reader is in nslab.coverage, a layer above this one
(tests/unit/test_layers.py), so the kind names that module and the coverage layer imports
it: an import from here would go upward."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from nslab.commands import Runner
from nslab.lab import Host, Lab

if TYPE_CHECKING:  # the mutants' types, quoted below: see the kinds' _mutants functions
    from nslab.firewall.mutants import Mutant
    from nslab.managers.mutants import Unmade

World = Callable[[], AbstractContextManager[Runner]]  # a throwaway world, started on demand
# nslab validate's look at the kind's hosts: (hosts, the lab file, a throwaway world) ->
# what it says it checked ("; ..." or ""); a refused configuration raises LabError
Check = Callable[[Sequence[Host], str, World], str]
# its hosts' files loaded in the build's throwaway world (a file and a line, not the
# manager's words at its start): (the world, hosts) -> how many files were loaded
Load = Callable[[Runner, Sequence[Host]], int]
# nslab mutate: mutants of the lab file's commands (lab file, its name as shown, host) and
# of a folder (folder, the lab's folder, the hosts sharing it as shown)
CommandMutants = Callable[[Path, str, Host], "tuple[list[Mutant], list[Unmade]]"]
FolderMutants = Callable[[Path, Path, str], "tuple[list[Mutant], list[Unmade]]"]
# mutant n -> why the manager refuses it, for the kind's mutants (n -> mutant, its lab)
Refusals = Callable[["Mapping[int, tuple[Mutant, Lab]]", Runner], dict[int, str]]


@dataclass(frozen=True)
class ManagerKind:
    name: str  # the lab key: firewall = { NAME = ... }
    commands: tuple[str, ...]  # its own commands: refused on a host that does not run it
    listings: tuple[tuple[str, ...], ...]  # its rules as text, for the ports they match on
    syntax: str  # how that text is read for ports: iptables or nft (nslab.reach.flows)
    counts: bool  # its rules count packets (ufw: iptables rules do; firewalld writes none)
    status: tuple[str, ...] = ()  # what its admin reads of it (the diagnostics bundle)
    bus: bool = False  # it runs on the host's private system bus: its commands get its address
    noun: str = "rules"  # what its rule coverage counts ("8/9 rules"; firewalld's: zone elements)
    checks: tuple[Check, ...] = ()  # nslab validate's, in order
    load: Load | None = None  # before a build, in the rulesets' throwaway world
    command_mutants: CommandMutants | None = None
    folder_mutants: FolderMutants | None = None
    refusals: Refusals | None = None  # its own check of its mutants, before any runs
    coverage: str = ""  # the nslab.coverage module whose place() reads its rules ("": not read)

    def hosts(self, lab: Lab) -> list[Host]:
        """The lab's hosts that run this manager."""
        return [h for h in lab.hosts if h.manager is not None and h.manager.kind == self.name]
