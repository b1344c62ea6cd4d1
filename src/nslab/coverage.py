"""Rule coverage: how many packets of the scenarios' own traffic each rule of the user's
ruleset files matched, over a whole run (every scenario's world, every worker, every
shard), each rule named by its file and line (nslab.rulemap).

How it is counted, and why so:
- Per world, the counters of every place holding a user's ruleset are read once when the
  lab is built (after the rulesets stage) and once when the scenario ends; the rule's hits
  are the difference. Building (and whatever a stage sends) is not the scenarios' traffic.
- An nft rule the user wrote without `counter` is counted by a rule of nslab's own put
  before it in the world's ruleset (the same matches, a counter, no verdict: it changes
  nothing); the user's file and rules are never changed.
- Neighbour discovery is the kernel's housekeeping, not the scenarios' traffic, yet it
  crosses input and output chains and would mark `meta l4proto ipv6-icmp accept` covered
  by any IPv6 probe. So before each nft rule that neighbour discovery could match (in an
  ip6 or inet chain that is not a forward hook: ND is never forwarded), the world's copy
  gets a rule of nslab's own with the same matches plus "is ND", a counter and no verdict;
  the rule's hits are its count less that one's. nslab's rules are commented `nslab-...`,
  and nslab's readers of rules (evidence, trace, a host's listing) leave them out.
  ip6tables files get the same, one rule per ND type (`-m comment --comment nslab-nd`).
- A `script` ruleset's rules have no file lines: they are read from the place once the
  script ran and reported per chain (`line` null).
- The public interface is `reports/rule-coverage.json`: a list of ruleset files, each
  with `file` (relative to the lab file), `place` (the host) and `rules`, a list of
  `{line, rule, hits}`; `lab` and `scenarios` (the scenarios whose traffic hit it) beside.
"""

from __future__ import annotations

import json
import os
import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nslab import firewalls, parse, rulemap
from nslab.rulesets import with_included

if TYPE_CHECKING:
    from nslab.lab import Lab
    from nslab.world import World

ND_COMMENT = parse.NSLAB_ND
COUNT_COMMENT = parse.NSLAB_COUNT
ND_TYPES = [
    "nd-router-solicit",
    "nd-router-advert",
    "nd-neighbor-solicit",
    "nd-neighbor-advert",
    "nd-redirect",
]
# match subjects that keep neighbour discovery out of a rule: it is ICMPv6 over IPv6 only
_ND_PROTO = {"ipv6-icmp", "icmpv6", "ipv6", "ip6", "58"}
_NOT_ND = {"tcp", "udp", "sctp", "dccp", "icmp", "ip", "th", "udplite", "esp", "ah", "comp", "igmp"}


# --- the world's copy: counters where the user wrote none, ND subtracted -----------------


def _leading_matches(expr: list[dict[str, Any]]) -> int:
    """How many of a rule's statements are matches before its first action."""
    n = 0
    while n < len(expr) and "match" in expr[n]:
        n += 1
    return n


def _nd_could_match(matches: list[dict[str, Any]]) -> bool:
    """Whether a packet of neighbour discovery could pass these matches (as nft would
    refuse a rule mixing `tcp dport` with `icmpv6 type`, such rules are left alone)."""
    for m in matches:
        left = m["match"].get("left", {})
        if "payload" in left and left["payload"].get("protocol") in _NOT_ND:
            return False
        if "meta" in left and left["meta"].get("key") in ("l4proto", "nfproto", "protocol"):
            right = m["match"].get("right")
            values = right["set"] if isinstance(right, dict) and "set" in right else [right]
            if m["match"].get("op", "==") in ("==", "in") and not any(str(v) in _ND_PROTO for v in values):
                return False
    return True


def instrument(listing: dict[str, Any], tables: set[str]) -> list[dict[str, Any]]:
    """The `nft -j -f` commands that put nslab's own rules (no verdict, a counter, a
    comment) before the rules of `tables`: one that counts a rule's packets where the
    user wrote no counter (its matches and a counter: the user's rule is left as written),
    and one that counts the neighbour discovery that could match it."""
    hooks = {
        (c["family"], c["table"], c["name"]): c.get("hook", "")
        for item in listing.get("nftables", [])
        if isinstance(c := item.get("chain"), dict)
    }
    commands: list[dict[str, Any]] = []
    for item in listing.get("nftables", []):
        r = item.get("rule")
        if not isinstance(r, dict) or f"{r['family']} {r['table']}" not in tables or parse.nslab_own(r):
            continue
        expr = list(r.get("expr", []))
        before = {**{k: r[k] for k in ("family", "table", "chain")}, "handle": r["handle"]}
        matches = expr[: _leading_matches(expr)]
        counter = {"counter": {"packets": 0, "bytes": 0}}
        hook = hooks.get((r["family"], r["table"], r["chain"]), "")
        if r["family"] in ("ip6", "inet") and hook != "forward" and _nd_could_match(matches):
            nd = {
                "match": {
                    "op": "==",
                    "left": {"payload": {"protocol": "icmpv6", "field": "type"}},
                    "right": {"set": ND_TYPES},
                }
            }
            rule = {**before, "expr": [*matches, nd, counter], "comment": ND_COMMENT}
            commands.append({"insert": {"rule": rule}})
        if not any("counter" in e for e in expr):
            rule = {**before, "expr": [*matches, counter], "comment": COUNT_COMMENT}
            commands.append({"insert": {"rule": rule}})
    return commands


_ND6 = range(133, 138)  # router solicitation .. redirect, as ip6tables numbers them
_ICMP6 = {"ipv6-icmp", "icmpv6", "58"}


def ip6tables_instrument(save: str, tables: set[str]) -> str | None:
    """The ip6tables-restore text (from `ip6tables-save -c`) with nslab's ND counting rules
    (`-m comment --comment nslab-nd`, one per ND type, no target) before each rule of
    `tables` that ND could match; None where no rule needs one. As for nft: only where ND
    can pass (not FORWARD: ND is never forwarded; not a rule matching another protocol)."""
    out: list[str] = []
    table = ""
    added = False
    for line in save.splitlines():
        if line.startswith("*"):
            table = line[1:].strip()
        counted = re.match(r"^(\[\d+:\d+\] )?-A (\S+) (.*)$", line)
        if counted and f"ip6 {table}" in tables and counted[2] != "FORWARD" and "nslab-" not in line:
            args = shlex.split(counted[3])
            cut = next((i for i, a in enumerate(args) if a in ("-j", "-g")), len(args))
            matches = args[:cut]
            proto = matches[matches.index("-p") + 1] if "-p" in matches else None
            negated = "-p" in matches and matches.index("-p") > 0 and matches[matches.index("-p") - 1] == "!"
            if not negated and (proto is None or proto in _ICMP6):
                base = matches if proto else ["-p", "ipv6-icmp", *matches]
                for kind in _ND6:
                    shadow = [
                        *base,
                        "-m",
                        "icmp6",
                        "--icmpv6-type",
                        str(kind),
                        "-m",
                        "comment",
                        "--comment",
                        ND_COMMENT,
                    ]
                    out.append(f"[0:0] -A {counted[2]} {shlex.join(shadow)}")
                added = True
        out.append(line)
    return "\n".join(out) + "\n" if added else None


# --- counting ------------------------------------------------------------------------------


Counts = dict[tuple[str, str], list[int | None]]  # (table, chain) -> each rule's packets, in order


def counts(tool: str, text: str) -> Counts:
    """Each chain's user rules' packets, in order, from a place's snapshot (nslab.parse
    gives an nft rule nslab's count where it has none, less nslab's ND count)."""
    return _counts_of(firewalls.parse_snapshot(tool, text))


def _counts_of(rs: parse.Ruleset) -> Counts:
    return {
        (t.name, c.name): [r.packets for r in c.rules] for t in rs.tables.values() for c in t.chains.values()
    }


# --- the run's record -------------------------------------------------------------------------


@dataclass
class RuleHits:
    line: int | None  # None: a script's rule (it has no line of a ruleset file)
    rule: str
    hits: int | None = 0  # None: the file's rules and the loaded chain did not line up


@dataclass
class FileCoverage:
    file: str  # relative to the lab file's folder
    place: str  # the host whose namespace loads it
    lab: str  # the lab file, relative to the run's folder where it can be
    rules: list[RuleHits]
    scenarios: set[str] = field(default_factory=set)
    kind: str = "nft"
    path: str = ""  # the file on this machine (for the HTML page)
    note: str = ""  # why some rules could not be counted

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.lab, self.place, self.file)

    def as_json(self) -> dict[str, Any]:
        return {
            "file": self.file,
            "place": self.place,
            "lab": self.lab,
            "kind": self.kind,
            "rules": [{"line": r.line, "rule": r.rule, "hits": r.hits} for r in self.rules],
            "scenarios": sorted(self.scenarios),
            **({"note": self.note} if self.note else {}),
            **({"path": self.path} if self.path else {}),
        }

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> FileCoverage:
        return cls(
            d["file"], d["place"], d.get("lab", ""),
            [RuleHits(r["line"], r["rule"], r["hits"]) for r in d["rules"]],
            set(d.get("scenarios", [])), d.get("kind", "nft"), d.get("path", ""), d.get("note", ""),
        )  # fmt: skip

    def add(self, other: FileCoverage) -> None:
        for mine, theirs in zip(self.rules, other.rules, strict=False):
            mine.hits = None if mine.hits is None or theirs.hits is None else mine.hits + theirs.hits
        self.scenarios |= other.scenarios
        self.note = self.note or other.note

    @property
    def counted(self) -> list[RuleHits]:
        return [r for r in self.rules if r.hits is not None]

    @property
    def covered(self) -> list[RuleHits]:
        return [r for r in self.rules if r.hits]


@dataclass
class _Place:
    """One user ruleset file as loaded in the current world."""

    host: str
    kind: str
    tool: str
    rules: list[rulemap.FileRule]
    cov: FileCoverage
    before: Counts = field(default_factory=dict)


def _relative(path: Path, to: Path) -> str:
    try:
        return os.path.relpath(path.resolve(), to.resolve())
    except ValueError:
        return str(path)


class Coverage:
    """The run's rule coverage, world by world."""

    def __init__(self) -> None:
        self.files: dict[tuple[str, str, str], FileCoverage] = {}
        self._world: list[_Place] = []
        self._parsed: dict[tuple[str, Path], list[rulemap.FileRule]] = {}

    def _places(self, lab: Lab, lab_path: Path | None) -> list[_Place]:
        folder = lab_path.parent if lab_path else Path.cwd()
        lab_name = _relative(lab_path, Path.cwd()) if lab_path else lab.name
        out = []
        for host in lab.hosts:
            for r in host.rulesets:
                tool = lab.firewall_tool(host) if r.kind == "script" else firewalls.RULESETS[r.kind].read_with
                # an nft file and each file it includes (`include "./nat.nft"`): a file of its own
                for path in with_included(r.kind, r.path):
                    rules = list(self._rules_of(r.kind, path))  # a script's: read once it ran (begin)
                    hits = [RuleHits(f.line, rulemap.rule_words(f)) for f in rules]
                    where = _relative(path, folder)
                    cov = FileCoverage(
                        where, host.name, lab_name, hits, kind=r.kind, path=str(path.resolve())
                    )
                    out.append(_Place(host.name, r.kind, tool or lab.backend_tool, rules, cov))
        return out

    def _rules_of(self, kind: str, path: Path) -> list[rulemap.FileRule]:
        """A ruleset file's rules by line, read once a run (every scenario's world asks)."""
        key = (kind, path.resolve())
        if key not in self._parsed:
            if kind == "script":  # no lines of its own: its rules are read from the world
                self._parsed[key] = []
            elif kind == "nft":
                self._parsed[key] = rulemap.nft_rules(path.read_text(errors="replace"))
            else:
                self._parsed[key] = rulemap.iptables_rules(
                    path.read_text(errors="replace"), v6=kind == "ip6tables"
                )
        return self._parsed[key]

    def begin(self, world: World, lab: Lab, lab_path: Path | None) -> None:
        """The lab was built in `world`: counters where the user wrote none, nslab's ND
        counts, and every place's counters now (the scenarios' traffic starts here)."""
        self._world = self._places(lab, lab_path)
        for place in self._world:
            if place.kind == "script":
                place.before = _counts_of(self._script_rules(world, place))
                continue
            if place.kind == "ip6tables":
                self._ip6tables_nd(world, place, lab.backend)
            if place.kind == "nft":
                listed = world.run(["nft", "-j", "list", "ruleset"], ns=place.host).stdout
                commands = instrument(json.loads(listed or "{}"), {r.table for r in place.rules})
                if not commands:  # that listing is the place's snapshot (nft's is `nft -j list ruleset`)
                    place.before = counts(place.tool, listed)
                    continue
                done = world.run(
                    ["nft", "-j", "-f", "-"], ns=place.host, stdin=json.dumps({"nftables": commands})
                )
                if done.rc != 0:
                    place.cov.note = (
                        f"not instrumented ({done.stderr.strip()[:200]}): "
                        "rules without counter not counted, ND included"
                    )
            place.before = self._counts(world, place)

    def _script_rules(self, world: World, place: _Place) -> parse.Ruleset:
        """A script's rules, as the place holds them once it ran: every chain's rules but
        those of the host's ruleset files (counted as theirs), reported per chain; with the
        place's snapshot they were read from."""
        files = {r.table for p in self._world if p.host == place.host and p is not place for r in p.rules}
        ruleset = firewalls.parse_snapshot(place.tool, self._snapshot(world, place))
        for table in ruleset.tables.values():
            if table.name in files:
                continue
            for chain in table.chains.values():
                for n, rule in enumerate(chain.rules, 1):
                    place.rules.append(rulemap.FileRule(table.name, chain.name, 0, rule.spec))
                    where = "" if table.name in ("filter", "ip filter") else f" in table {table.name}"
                    place.cov.rules.append(RuleHits(None, f"{chain.name} rule {n}{where}: {rule.spec}"))
        return ruleset

    def _ip6tables_nd(self, world: World, place: _Place, backend: str) -> None:
        """nslab's ND counting rules before an ip6tables file's rules (one atomic restore,
        counters kept)."""
        legacy = backend == "legacy"
        save = world.run(
            ["ip6tables-legacy-save" if legacy else "ip6tables-save", "-c"], ns=place.host
        ).stdout
        text = ip6tables_instrument(save, {r.table for r in place.rules})
        if text is None:
            return
        restore = ["ip6tables-legacy-restore" if legacy else "ip6tables-restore", firewalls.WAIT, "-c"]
        done = world.run(restore, ns=place.host, stdin=text)
        if done.rc != 0:
            place.cov.note = f"not instrumented ({done.stderr.strip()[:200]}): ND included"

    def _snapshot(self, world: World, place: _Place) -> str:
        fw = firewalls.get(place.tool)
        return firewalls.V6_MARK.join(world.run(list(a), ns=place.host).stdout for a in fw.snapshot)

    def _counts(self, world: World, place: _Place) -> Counts:
        return counts(place.tool, self._snapshot(world, place))

    def end(self, world: World, scenario: str) -> None:
        """The scenario ended: each rule's hits in its world, added to the run's."""
        places, self._world = self._world, []
        for place in places:
            after = self._counts(world, place)
            by_chain: dict[tuple[str, str], list[int]] = {}
            for i, rule in enumerate(place.rules):
                by_chain.setdefault((rule.table, rule.chain), []).append(i)
            for key, indexes in by_chain.items():
                now, then = after.get(key, []), place.before.get(key, [])
                if len(now) != len(indexes) or len(then) != len(indexes):
                    place.cov.note = place.cov.note or (
                        f"chain {key[1]} of table {key[0]} holds {len(now)} rules where the file gives "
                        f"{len(indexes)}: its rules are not counted"
                    )
                    for i in indexes:
                        place.cov.rules[i].hits = None
                    continue
                for i, a, b in zip(indexes, now, then, strict=True):
                    place.cov.rules[i].hits = None if a is None or b is None else max(0, a - b)
            if any(r.hits for r in place.cov.rules):
                place.cov.scenarios.add(scenario)
            mine = self.files.get(place.cov.key)
            if mine is None:
                self.files[place.cov.key] = place.cov
            else:
                mine.add(place.cov)

    # --- files ---

    def as_json(self) -> list[dict[str, Any]]:
        return [f.as_json() for f in sorted(self.files.values(), key=lambda f: f.key)]

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.as_json(), indent=1) + "\n")

    @classmethod
    def load(cls, paths: list[Path]) -> Coverage:
        """Several runs' (workers', shards') coverage, summed."""
        cov = cls()
        for path in paths:
            if not path.exists():
                continue
            for d in json.loads(path.read_text()):
                f = FileCoverage.from_json(d)
                if f.key in cov.files:
                    cov.files[f.key].add(f)
                else:
                    cov.files[f.key] = f
        return cov
