"""What nslab knows of each firewall manager a lab host may run, in one place per kind
(nslab.managers.ufw, nslab.managers.firewalld; its package and programs are its row of
nslab.needs), so that a registry of firewall kinds can take them as they are: the
commands that are its own, how its rules are read (the firewall tool, nslab.firewall)
and listed for their ports, and whether its rules count packets (else a scenario's probe
is traced). How it is started lives in the managers stage (provision/56-managers.sh),
one branch a kind."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ManagerKind:
    name: str  # the lab key: firewall = { NAME = ... }
    commands: tuple[str, ...]  # its own commands: refused on a host that does not run it
    tool: str  # the firewall tool its rules are read with (nslab.firewall)
    listings: tuple[tuple[str, ...], ...]  # its rules as text, for the ports they match on
    syntax: str  # how that text is read for ports: iptables or nft (nslab.reach.flows)
    counts: bool  # its rules count packets (ufw: iptables rules do; firewalld writes none)
    status: tuple[str, ...] = ()  # what its admin reads of it (the diagnostics bundle)
