"""The firewall registry: each firewall tool a place's rules are read with, in one entry
(as testinfra keeps its backends in one map): how its counters are snapshotted around a
probe (the evidence), what a person reads of it (the diagnostics bundle), how a snapshot
is parsed, and the Debian package that has it. A place is named `PLACE:TOOL` ("host" is
the world's root namespace); a new tool is one entry here. Beside it, the kinds of ruleset
file a lab may give a host: how each is loaded and checked (RULESETS).

>>> get("nft").listing
(('nft', 'list', 'ruleset'),)
>>> get("anything else").tool  # a lab's backend this registry does not know: iptables-nft
'iptables'
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from nslab import parse

V6_MARK = "@@nslab-v6\n"  # between IPv4's and IPv6's listing in one snapshot text


@dataclass(frozen=True)
class Firewall:
    tool: str
    snapshot: tuple[tuple[str, ...], ...]  # counters, machine-readable; IPv6's after V6_MARK
    listing: tuple[tuple[str, ...], ...]  # what a person reads
    package: str  # the Debian package that has the tool
    parse: Callable[[str], parse.Ruleset]


def _iptables(text: str) -> parse.Ruleset:
    """iptables-save, a line V6_MARK, ip6tables-save: IPv6 tables become "ip6 filter" ..."""
    v4, _, v6 = text.partition(V6_MARK)
    rs = parse.iptables_save(v4)
    for table in parse.iptables_save(v6).tables.values():
        table.name = f"ip6 {table.name}"
        rs.tables[table.name] = table
    return rs


# iptables-nft's own tables, as nft lists them: read with iptables-save, never twice
IPTABLES_TABLES = {
    f"{family} {name}" for family in ("ip", "ip6") for name in ("filter", "nat", "mangle", "raw", "security")
}


def _iptables_and_nft(text: str) -> parse.Ruleset:
    """iptables-save, ip6tables-save, then `nft -j list ruleset`: the host's iptables rules
    and its native nft tables (a user's `nft add table inet mine` on the lab's host)."""
    v4, _, rest = text.partition(V6_MARK)
    v6, _, native = rest.partition(V6_MARK)
    rs = _iptables(v4 + V6_MARK + v6)
    try:
        nft = parse.nft_json(native)
    except ValueError:
        return rs
    for name, table in nft.tables.items():
        if name not in IPTABLES_TABLES:
            rs.tables[name] = table
    rs.counters.update(nft.counters)
    return rs


_SAVE = (("iptables-save", "-c"), ("ip6tables-save", "-c"))
_LEGACY = (("iptables-legacy-save", "-c"), ("ip6tables-legacy-save", "-c"))
REGISTRY: dict[str, Firewall] = {
    f.tool: f
    for f in (
        Firewall(
            "nft",
            (("nft", "-j", "list", "ruleset"),),
            (("nft", "list", "ruleset"),),
            "nftables",
            parse.nft_json,
        ),
        Firewall("iptables4", _SAVE[:1], _SAVE[:1], "iptables", _iptables),  # the seed's host: IPv4 only
        Firewall("iptables", _SAVE, _SAVE, "iptables", _iptables),  # iptables-nft, both families
        Firewall("legacy", _LEGACY, _LEGACY, "iptables", _iptables),  # iptables-legacy
        # a host with native nft tables beside its iptables (nslab.scenario.session names it so)
        Firewall(
            "iptables+nft",
            (*_SAVE, ("nft", "-j", "list", "ruleset")),
            (*_SAVE, ("nft", "list", "ruleset")),
            "nftables",
            _iptables_and_nft,
        ),
    )
}


@dataclass(frozen=True)
class RulesetKind:
    """A kind of ruleset file a lab host may have (`firewall = { KIND = "FILE" }`): how the
    rulesets stage loads it (the file's path last; `legacy`: with firewall.backend =
    legacy), how it is checked in a throwaway world before anything is built (a None in
    the argv: the file on stdin, else its path last), and the tool the host's rules are
    then read with (None: the lab's backend)."""

    kind: str
    load: tuple[str, ...]
    check: tuple[str | None, ...]
    legacy: tuple[str, ...] | None = None
    read_with: str | None = None

    def loader(self, backend: str) -> tuple[str, ...]:
        return self.legacy if backend == "legacy" and self.legacy else self.load


# The xtables lock, waited for: `--wait=SECONDS`, never a bare `-w` before the file:
# iptables-restore (1.8.9) takes the word after `-w` as its seconds (a file name reads as
# 0), then reads the rules from stdin, finds none and exits 0. A lab's iptables files were
# loaded so: nothing loaded, no error (found by rule coverage: every rule 0 hits).
WAIT = "--wait=30"
# iptables files are checked by loading them for real: `iptables-restore --test` (nf_tables
# backend, 1.8.9) passed a rule jumping to "ACCCEPT", which only fails when committed.
RULESETS: dict[str, RulesetKind] = {
    r.kind: r
    for r in (
        RulesetKind(
            "iptables",
            ("iptables-restore", WAIT),
            ("iptables-restore", None),
            ("iptables-legacy-restore", WAIT),
        ),
        RulesetKind(
            "ip6tables",
            ("ip6tables-restore", WAIT),
            ("ip6tables-restore", None),
            ("ip6tables-legacy-restore", WAIT),
        ),
        RulesetKind("nft", ("nft", "-f"), ("nft", "-c", "-f"), read_with="nft"),
        RulesetKind(
            "script", ("bash",), ("bash", "-n")
        ),  # the user's own: any tool, the same NSLAB_* variables
    )
}


def get(tool: str) -> Firewall:
    """The registry's entry for a tool; iptables (iptables-nft) for one it does not know."""
    return REGISTRY.get(tool, REGISTRY["iptables"])


def parse_snapshot(tool: str, text: str) -> parse.Ruleset:
    """One place's counters as a probe snapshots them; unreadable: an empty ruleset."""
    try:
        return get(tool).parse(text)
    except (ValueError, KeyError):
        return parse.Ruleset()


def snapshot_commands(places: list[str]) -> list[list[object]]:
    """[PLACE:TOOL, its snapshot argvs] for each place: what the world's netprobe helper
    runs around a batch of probes (it has no registry of its own: stdlib only)."""
    return [[spec, [list(a) for a in get(spec.partition(":")[2]).snapshot]] for spec in places]
