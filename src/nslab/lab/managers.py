"""A lab host's firewall manager, as its lab file names it (issue 29):

    firewall = { ufw = ["default deny incoming", "allow 22/tcp"] }  # ufw commands
    firewall = { ufw = "web-ufw" }              # a folder laid over /etc/ufw
    firewall = { firewalld = "gw-firewalld" }   # a folder laid over /etc/firewalld

Read before anything runs, like every lab key: a bad value is one LabError naming the key
and the fix. Only the standard library and nslab.errors: the lab model imports this.

>>> read_manager("host web.firewall", {"ufw": ["allow 22/tcp"]}, Path(".")).commands
(('allow', '22/tcp'),)
"""

from __future__ import annotations

import shlex
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nslab.errors import LabError


@dataclass(frozen=True)
class ManagerKey:
    """What a lab file may say of one manager kind, and the tool its rules are read with:
    the lab layer's part of a kind (nslab.managers.kind.ManagerKind is the rest). Data here,
    not in the kind's module, because the lab file is read (and nslab.firewall reads a
    manager host's tool) without the managers package, which is above both;
    tests/unit/test_kinds.py fails until this table and nslab.managers.common.KINDS name the
    same kinds."""

    name: str  # the lab key: firewall = { NAME = ... }
    etc: str  # the folder a `NAME = "FOLDER"` is laid over
    tool: str  # the firewall tool (nslab.firewall) its rules are read with
    example: str  # what the key takes, for the message on a bad value
    command: Callable[[str, Any], tuple[str, ...]] | None = None  # reads one of its commands (a list form)


def _ufw_command(where: str, value: Any) -> tuple[str, ...]:
    if not isinstance(value, str) or not value.strip():
        raise LabError(
            f"{where}: expected a ufw command, got {value!r}", 'write it as ufw takes it: "allow 22/tcp"'
        )
    try:
        argv = shlex.split(value)
    except ValueError as exc:
        raise LabError(f"{where}: {value!r}: {exc}", "close the quote") from None
    if argv[0] == "ufw":  # "ufw allow 22/tcp" as people type it
        argv = argv[1:]
    if not argv or argv[0] in ("enable", "disable", "reset", "--force"):
        raise LabError(
            f"{where}: {value!r}: nslab enables ufw itself, then runs the commands",
            'give rules and defaults only: "default deny incoming", "allow 22/tcp"',
        )
    return tuple(argv)


# the kinds this module reads (Docker's key is its own). ufw writes through iptables
# (iptables-nft on Debian 12), firewalld through libnftables.
MANAGERS: dict[str, ManagerKey] = {
    k.name: k
    for k in (
        ManagerKey("ufw", "/etc/ufw", "iptables", '["default deny incoming", "allow 22/tcp"] or "FOLDER"',
                   _ufw_command),
        ManagerKey("firewalld", "/etc/firewalld", "nft", '"FOLDER"'),
    )
}  # fmt: skip


@dataclass(frozen=True)
class Manager:
    """A firewall manager run for real on a host: `kind` (ufw, firewalld), the ufw commands
    run after enabling it (argv after `ufw`), and/or a folder laid over its /etc."""

    kind: str
    commands: tuple[tuple[str, ...], ...] = ()
    folder: Path | None = None

    @property
    def tool(self) -> str:
        """The firewall tool (nslab.firewall) its rules are read with."""
        return MANAGERS[self.kind].tool


def read_manager(where: str, table: dict[str, Any], base: Path) -> Manager | None:
    """The manager a host's `firewall` table names, or None; `where` names the table."""
    named = [k for k in MANAGERS if k in table]
    if not named:
        return None
    if len(named) > 1 or len(table) > 1:
        others = sorted(set(table) - {named[0]})
        raise LabError(
            f"{where}: {named[0]} beside {', '.join(others)}: one firewall per host, each would "
            "overwrite the other's rules",
            f"give the host {named[0]} alone, or one ruleset file without a manager",
        )
    kind = named[0]
    value = table[kind]
    if isinstance(value, str):
        folder = (base / value).resolve()
        if not folder.is_dir():
            raise LabError(
                f"{where}.{kind}: {folder} is not a folder",
                f"make a folder of files laid over {MANAGERS[kind].etc}, next to the lab file",
            )
        return Manager(kind, folder=folder)
    command = MANAGERS[kind].command
    if command is not None and isinstance(value, list):
        return Manager(
            kind, commands=tuple(command(f"{where}.{kind} #{i + 1}", v) for i, v in enumerate(value))
        )
    example = MANAGERS[kind].example
    raise LabError(f"{where}.{kind}: expected {example}, got {value!r}", f"write {kind} = {example}")
