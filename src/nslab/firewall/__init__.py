"""Firewall kinds, and the readers of a place's rules.

KINDS, the registry of kinds: each kind of ruleset file a lab may give a host
(`firewall = { KIND = "FILE" }`) is one module of this package holding everything nslab
knows of it (nslab.firewall.kind lists what a kind provides, with "does not know"
defaults), and one line here. Adding a kind: its module, and its line in KINDS.

REGISTRY, the readers (as testinfra keeps its backends in one map): each tool a place's
rules are read with, from the kinds' modules: how its counters are snapshotted around a
probe (the evidence), what a person reads of it (the diagnostics bundle), how a snapshot
is parsed, and the Debian package that has it. A place is named `PLACE:TOOL` ("host" is
the world's root namespace).

>>> get("nft").listing
(('nft', 'list', 'ruleset'),)
>>> get("anything else").tool  # a lab's backend this registry does not know: iptables-nft
'iptables'
>>> get_kind("script").load
('bash',)
"""

from __future__ import annotations

from nslab.firewall import iptables, nft, script
from nslab.firewall.iptables import WAIT
from nslab.firewall.kind import V6_MARK, Firewall, Kind
from nslab.parse import Ruleset

__all__ = ["KINDS", "REGISTRY", "RULESETS", "V6_MARK", "WAIT", "Firewall", "Kind", "get", "get_kind"]

# the kinds, in the order the rulesets stage loads a host's files
KINDS: dict[str, Kind] = {k.name: k for k in (iptables.KIND, iptables.IP6TABLES, nft.KIND, script.KIND)}
RULESETS = KINDS  # the name the stages and checks knew it by

REGISTRY: dict[str, Firewall] = {f.tool: f for f in (*nft.READERS, *iptables.READERS)}


def get_kind(name: str) -> Kind:
    """The registry's kind of that name; for a name no module gives, the default Kind of
    that name (which knows nothing of its rules, and says so)."""
    found = KINDS.get(name)
    return found if found is not None else type("Unknown", (Kind,), {"name": name})()


def get(tool: str) -> Firewall:
    """The registry's entry for a tool; iptables (iptables-nft) for one it does not know."""
    return REGISTRY.get(tool, REGISTRY[iptables.DEFAULT_READER])


def parse_snapshot(tool: str, text: str) -> Ruleset:
    """One place's counters as a probe snapshots them; unreadable: an empty ruleset."""
    try:
        return get(tool).parse(text)
    except (ValueError, KeyError):
        return Ruleset()


def snapshot_commands(places: list[str]) -> list[list[object]]:
    """[PLACE:TOOL, its snapshot argvs] for each place: what the world's netprobe helper
    runs around a batch of probes (it has no registry of its own: stdlib only)."""
    return [[spec, [list(a) for a in get(spec.partition(":")[2]).snapshot]] for spec in places]
