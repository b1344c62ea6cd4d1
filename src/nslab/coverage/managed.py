"""The lab's firewall managers' places for rule coverage (nslab.coverage.ufw, .firewalld),
each read once the lab is built; a manager host nslab could not read is "not measured",
with the reason, and never fails the build (coverage says, the verdicts stand)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from nslab.coverage import firewalld as firewalld_cov
from nslab.coverage import ufw as ufw_cov
from nslab.coverage.files import FileCoverage
from nslab.errors import NslabError
from nslab.lab import Lab
from nslab.machine.world import World
from nslab.managers.common import host_argv, managed


@dataclass
class Unread:
    """A manager host whose rules nslab could not read: not measured, and why."""

    cov: FileCoverage

    def end(self, scenario: str) -> list[FileCoverage]:
        return [self.cov]


Place = ufw_cov.UfwPlace | firewalld_cov.FirewalldPlace | Unread


@dataclass
class Parsed:
    """ufw's parser's answers, per run: the same commands every world (a python start
    each, ~0.4 s at load: once a run)."""

    said: dict[tuple[tuple[str, ...], ...], list[dict[str, list[str]] | None]] = field(default_factory=dict)


def places(world: World, lab: Lab, lab_path: Path | None, name: str, parsed: Parsed) -> list[Place]:
    folder = lab_path.parent if lab_path else Path.cwd()
    out: list[Place] = []
    for host in managed(lab):
        assert host.manager is not None
        kind = host.manager.kind
        try:
            if kind == "ufw":
                commands = tuple(host.manager.commands)
                if commands and commands not in parsed.said:
                    parsed.said[commands] = ufw_cov.parse_commands(world, list(commands))
                out.append(
                    ufw_cov.place(world, lab, host, lab_path, name, folder, parsed.said.get(commands, []))
                )
            elif kind == "firewalld":
                argv = host_argv(lab, host, ["nft", "list", "table", *firewalld_cov.TABLE.split()])
                out.append(firewalld_cov.place(world, lab, host, name, folder, argv))
        except (NslabError, OSError, ValueError) as exc:
            why = f"nslab could not read {kind}'s rules: {exc}"
            # an entry of its own: never summed into the host's readable ones of other worlds
            unread = FileCoverage(f"{kind} (not read)", host.name, name, [], kind=kind, note=why, known=False)
            unread.manager = kind
            out.append(Unread(unread))
    return out
