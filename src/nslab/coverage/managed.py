"""The lab's firewall managers' places for rule coverage (each kind's reader, the module
its `coverage` names: nslab.coverage.ufw, .firewalld), each read once the lab is built; a
manager host nslab could not read is "not measured", with the reason, and never fails the
build (coverage says, the verdicts stand)."""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from nslab.coverage.files import FileCoverage
from nslab.errors import NslabError
from nslab.firewall.evidence import Decision
from nslab.lab import Lab
from nslab.machine.world import World
from nslab.managers.common import KINDS, managed


class Place(Protocol):
    """A manager host's rules in the current world (its kind's reader's): a scenario's
    traced decisions (for rules that count nothing), its counters folded in before
    nslab's own traffic and read again after it, and its files' hits at the end."""

    def traced(self, decisions: list[Decision]) -> None: ...
    def fold(self, world: World) -> None: ...
    def resume(self, world: World) -> None: ...
    def end(self, scenario: str) -> list[FileCoverage]: ...


class Quiet:
    """What a place that counts (or is traced) by no other way does: nothing."""

    def traced(self, decisions: list[Decision]) -> None:
        return None

    def fold(self, world: World) -> None:
        return None

    def resume(self, world: World) -> None:
        return None


@dataclass
class Unread(Quiet):
    """A manager host whose rules nslab could not read: not measured, and why."""

    cov: FileCoverage

    def end(self, scenario: str) -> list[FileCoverage]:
        return [self.cov]


@dataclass
class Parsed:
    """The readers' memo of a run: ufw's parser's answers, the same commands every world
    (a python start each, ~0.4 s at load: once a run)."""

    said: dict[tuple[tuple[str, ...], ...], list[dict[str, list[str]] | None]] = field(default_factory=dict)


def places(world: World, lab: Lab, lab_path: Path | None, name: str, parsed: Parsed) -> list[Place]:
    folder = lab_path.parent if lab_path else Path.cwd()
    out: list[Place] = []
    for host in managed(lab):
        assert host.manager is not None
        kind = KINDS[host.manager.kind]
        try:
            # the kind (nslab.managers) is a layer below its reader: it names the module
            if kind.coverage:
                reader = importlib.import_module(kind.coverage)
                out.append(reader.place_of(world, lab, host, lab_path, name, folder, parsed))
                continue
            why = f"nslab has no reader of {kind.name}'s rules"
        except (NslabError, OSError, ValueError) as exc:
            why = f"nslab could not read {kind.name}'s rules: {exc}"
        # not read: an entry of its own, never summed into the host's readable ones of other worlds
        unread = FileCoverage(
            f"{kind.name} (not read)", host.name, name, [], kind=kind.name, note=why, known=False
        )
        unread.manager = kind.name
        out.append(Unread(unread))
    return out
