"""Rule coverage: how many packets of the scenarios' own traffic each rule of the user's
ruleset files matched, over a whole run (every scenario's world, every worker, every
shard), each rule named by its file and line (nslab.firewall.rulemap).

How it is counted, and why so:
- Per world, the counters of every place holding a user's ruleset are read once when the
  lab is built (after the rulesets stage) and once when the scenario ends; the rule's hits
  are the difference. Building (and whatever a stage sends) is not the scenarios' traffic.
- nslab's own traffic is not the scenarios': the golden-file step's exploration of the
  whole lab (and its tracer's loopback pings) runs inside `Coverage.paused`, which reads
  the counters before and after it.
- An nft rule the user wrote without `counter`, the kernel's IPv6 housekeeping (ND, MLD)
  and the elements of a map or a named set are counted by rules of nslab's own in the world's copy
  (nslab.firewall.instrument); the user's file and rules are never changed. A rule nslab cannot
  count (nft refuses its counting rules; a map keyed per packet) has hits None, and the
  file's note says which and why; a file with no rule counted is not measured.
- A `script` ruleset's rules have no file lines: they are read from the place once the
  script ran and reported per chain (`line` null).
- The public interface is `reports/rule-coverage.json`: a list of ruleset files, each
  with `file` (relative to the lab file), `place` (the host) and `rules`, a list of
  `{line, rule, hits}` (`elements`: `[{element, hits}]` for a rule with a map or a named
  set, `elements_of` naming a named one, `elements_not_measured` why its were not); `lab`,
  `scenarios` (the scenarios whose traffic hit it), `explored_by`, `measured` and `note`
  beside.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nslab import firewall as firewalls
from nslab import parse
from nslab.coverage import managed
from nslab.coverage.files import FileCoverage, RuleHits
from nslab.coverage.marks import count_marks
from nslab.firewall import instrument as instrument_
from nslab.firewall import iptables, rulemap
from nslab.firewall import nft as nft_kind
from nslab.firewall import places as firewall_places
from nslab.firewall.rulesets import with_included
from nslab.managers.evidence import traced

if TYPE_CHECKING:
    from nslab.firewall.evidence import Decision
    from nslab.lab import Lab
    from nslab.machine.world import World

ND_COMMENT = parse.NSLAB_ND
COUNT_COMMENT = parse.NSLAB_COUNT
REFUSED = "nft does not take a counting rule with its matches"
# the world's copy's counting rules live in nslab.firewall.instrument; named here as before
instrument = instrument_.instrument
ip6tables_instrument = instrument_.ip6tables_instrument


# --- counting ------------------------------------------------------------------------------


Counts = dict[tuple[str, str], list[int | None]]  # (table, chain) -> each rule's packets, in order
Elements = instrument_.Elements
elements = instrument_.elements


def counts(tool: str, text: str) -> Counts:
    """Each chain's user rules' packets, in order, from a place's snapshot (nslab.parse
    gives an nft rule nslab's count where it has none, less nslab's ND count)."""
    return _counts_of(firewalls.parse_snapshot(tool, text))


def _counts_of(rs: parse.Ruleset) -> Counts:
    return {
        (t.name, c.name): [r.packets for r in c.rules] for t in rs.tables.values() for c in t.chains.values()
    }


@dataclass
class _LoadedFile:
    """One user ruleset file as loaded in the current world."""

    host: str
    kind: str
    tool: str
    rules: list[rulemap.FileRule]
    cov: FileCoverage
    before: Counts = field(default_factory=dict)
    before_elements: Elements = field(default_factory=dict)
    hits: list[int | None] = field(default_factory=list)  # the scenario's, so far
    elements: list[dict[str, int] | None] = field(default_factory=list)
    uncounted: dict[int, str] = field(default_factory=dict)  # rule index -> why nslab cannot count it
    explored: bool = False  # nslab's own traffic crossed its rules (Coverage.paused)


def _refusal(g: instrument_.Group) -> tuple[str, str, int, str]:
    """A group nft refused, as remembered for the next worlds: its rule and which part."""
    part = "marks" if g.optional else "elements" if g.only_elements else ""
    return (g.table, g.chain, g.position, part)


def _elements_refused(g: instrument_.Group) -> str:
    return f"elements of {g.of} not measured: nft does not take a counting rule for them"


def _relative(path: Path, to: Path) -> str:
    try:
        return os.path.relpath(path.resolve(), to.resolve())
    except ValueError:
        return str(path)


class Coverage:
    """The run's rule coverage, world by world."""

    def __init__(self) -> None:
        self.files: dict[tuple[str, str, str], FileCoverage] = {}
        self._world: list[_LoadedFile] = []
        # the world's firewall managers (nslab.coverage.ufw, .firewalld): what the user wrote
        self._managers: list[managed.Place] = []
        self._parsed_ufw = managed.Parsed()
        self._traced_lab = False
        self._parsed: dict[tuple[str, Path], list[rulemap.FileRule]] = {}
        self._paused = False
        # per ruleset file: the groups (table, chain, position, part) nft took no counting rules for
        self._refused: dict[str, set[tuple[str, str, int, str]]] = {}

    def _places(self, lab: Lab, lab_path: Path | None) -> list[_LoadedFile]:
        folder = lab_path.parent if lab_path else Path.cwd()
        lab_name = _relative(lab_path, Path.cwd()) if lab_path else lab.name
        out = []
        for host in lab.hosts:
            for r in host.rulesets:
                tool = firewall_places.file_tool(lab, host, r.kind)
                unknown = firewalls.get_kind(r.kind).not_counted()  # a kind that cannot tell: why
                # an nft file and each file it includes (`include "./nat.nft"`): a file of its own
                for path in with_included(r.kind, r.path):
                    rules = list(self._rules_of(r.kind, path))  # a script's: read once it ran (begin)
                    hits = [RuleHits(f.line, rulemap.rule_words(f)) for f in rules]
                    where = _relative(path, folder)
                    cov = FileCoverage(
                        where, host.name, lab_name, hits, kind=r.kind, path=str(path.resolve()),
                        note=unknown, known=not unknown,
                    )  # fmt: skip
                    out.append(_LoadedFile(host.name, r.kind, tool, rules, cov))
        return out

    def _rules_of(self, kind: str, path: Path) -> list[rulemap.FileRule]:
        """A ruleset file's rules by line, read once a run (every scenario's world asks)."""
        key = (kind, path.resolve())
        if key not in self._parsed:
            # a kind with no lines of its own (a script): its rules are read from the world
            known = firewalls.get_kind(kind).rules(path.read_text(errors="replace"))
            self._parsed[key] = known or []
        return self._parsed[key]

    def begin(self, world: World, lab: Lab, lab_path: Path | None) -> None:
        """The lab was built in `world`: counters where the user wrote none, nslab's ND
        counts, and every place's counters now (the scenarios' traffic starts here)."""
        self._world = self._places(lab, lab_path)
        self._paused = False
        self._traced_lab = traced(lab)  # every probe traced: the tracer's marks counted apart
        name = _relative(lab_path, Path.cwd()) if lab_path else lab.name
        self._managers = managed.places(world, lab, lab_path, name, self._parsed_ufw)
        for place in self._world:
            if firewalls.get_kind(place.kind).from_world:  # its rules as it left them: as a file's
                self._script_rules(world, place)
            nft = firewalls.get(place.tool).nft  # nft's own rules: nslab's counting rules are nft's
            if not nft and any(r.table.startswith("ip6 ") for r in place.rules):
                self._ip6tables_nd(world, place, lab.backend)
            if not nft and self._traced_lab and any(r.table == "filter" for r in place.rules):
                count_marks(world, place.host, lab.backend)  # the tracer's loopback pings: nslab's
            place.hits = [0] * len(place.rules)
            place.elements = [None] * len(place.rules)
            unchanged = self._nft_counting(world, place) if nft else None
            if unchanged is not None:  # that listing is the place's snapshot (`nft -j list ruleset`)
                place.before, place.before_elements = counts(place.tool, unchanged), elements(unchanged)
            else:
                place.before, place.before_elements = self._take(world, place)

    def traced(self, decisions: list[Decision]) -> None:
        """A scenario probe's traced decisions (nslab.probe.traced): a firewalld host's
        rules keep no counters, so its hits are the probes its rules decided."""
        if self._paused:
            return
        for m in self._managers:
            m.traced(decisions)

    def _nft_counting(self, world: World, place: _LoadedFile) -> str | None:
        """nslab's counting rules in the place's copy: all at once, else rule by rule (a
        rule nft will not take a counting rule for is named, and not counted; the next
        worlds skip it without asking nft again). The place's listing where nothing was
        added (its snapshot as it stands)."""
        listed = nft_kind.listing(world, place.host)
        tables = {r.table for r in place.rules}
        groups = instrument_.plan(json.loads(listed or "{}"), tables, loop=self._traced_lab)
        index = self._index(place)
        refused = self._refused.setdefault(place.cov.path, set())
        for g in groups:
            i = index.get((g.table, g.chain, g.position))
            if i is not None and g.elements_why:  # the elements of its named set or map: said
                place.cov.rules[i].elements_note = g.elements_why
            if g.optional:  # the tracer's marks' count: refused once, not asked again
                g.commands = [] if _refusal(g) in refused else g.commands
            elif i is not None and g.only_elements and _refusal(g) in refused:
                place.cov.rules[i].elements_note, g.commands = _elements_refused(g), []
            elif i is not None and g.why:
                place.uncounted[i] = g.why
            elif i is not None and _refusal(g) in refused:
                place.uncounted[i], g.commands = REFUSED, []
            elif i is not None and g.elements:
                place.cov.rules[i].elements = dict.fromkeys(g.elements, 0)
                place.cov.rules[i].of = g.of
        groups = [g for g in groups if g.commands]
        if not groups:
            return listed
        if self._nft(world, place, [c for g in groups for c in g.commands]):
            return None
        for g in groups:
            if self._nft(world, place, g.commands):
                continue
            refused.add(_refusal(g))
            i = index.get((g.table, g.chain, g.position))
            if g.optional or i is None:  # costs only its own count: the rule stays counted
                continue
            place.cov.rules[i].elements = None
            if g.only_elements:  # costs the elements' counts: the rule's own stays
                place.cov.rules[i].elements_note = _elements_refused(g)
            else:
                place.uncounted[i] = REFUSED
        return None

    @staticmethod
    def _nft(world: World, place: _LoadedFile, commands: list[dict[str, Any]]) -> bool:
        return nft_kind.add(world, place.host, commands)

    @staticmethod
    def _index(place: _LoadedFile) -> dict[tuple[str, str, int], int]:
        """(table, chain, position in the chain from 1) -> the rule's index in the file's."""
        out: dict[tuple[str, str, int], int] = {}
        seen: dict[tuple[str, str], int] = {}
        for i, rule in enumerate(place.rules):
            seen[(rule.table, rule.chain)] = n = seen.get((rule.table, rule.chain), 0) + 1
            out[(rule.table, rule.chain, n)] = i
        return out

    def _script_rules(self, world: World, place: _LoadedFile) -> parse.Ruleset:
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

    def _ip6tables_nd(self, world: World, place: _LoadedFile, backend: str) -> None:
        """nslab's ND counting rules before the place's ip6tables rules (one atomic
        restore, counters kept)."""
        if not iptables.count_nd(world, place.host, {r.table for r in place.rules}, backend):
            place.cov.note = (
                "nslab's rules that tell the kernel's IPv6 housekeeping apart did not load: not counted"
            )
            v6 = [i for i, r in enumerate(place.rules) if r.table.startswith("ip6 ")]
            place.uncounted.update(dict.fromkeys(v6, "housekeeping not told apart"))

    def _snapshot(self, world: World, place: _LoadedFile) -> str:
        fw = firewalls.get(place.tool)
        return firewalls.V6_MARK.join(world.run(list(a), ns=place.host).stdout for a in fw.snapshot)

    def _take(self, world: World, place: _LoadedFile) -> tuple[Counts, Elements]:
        text = self._snapshot(world, place)
        return counts(place.tool, text), elements(text) if firewalls.get(place.tool).nft else {}

    def _fold(self, world: World, place: _LoadedFile) -> None:
        """The packets since the place's last reading, into the scenario's hits."""
        after, found = self._take(world, place)
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
                    place.hits[i] = None
                continue
            for n, (i, a, b) in enumerate(zip(indexes, now, then, strict=True), 1):
                mine = place.hits[i]
                place.hits[i] = None if mine is None or a is None or b is None else mine + max(0, a - b)
                elems, old = found.get(key, {}).get(n), place.before_elements.get(key, {}).get(n, {})
                if elems is not None:
                    sums = place.elements[i] = place.elements[i] or {}
                    for name, packets in elems.items():
                        sums[name] = sums.get(name, 0) + max(0, packets - old.get(name, 0))
        place.before, place.before_elements = after, found

    @contextlib.contextmanager
    def paused(self, world: World, *, explored: bool = True) -> Iterator[None]:
        """nslab's own traffic (the golden step's exploration of the whole lab; a lost probe
        sent again under nft's trace, `explored=False`: no exploration): counted for no
        rule; the scenario's counts resume after it."""
        if self._paused or not (self._world or self._managers):
            yield
            return
        for place in self._world:
            self._fold(world, place)
        for m in self._managers:
            m.fold(world)
        self._paused = True
        try:
            yield
        finally:
            self._paused = False
            for m in self._managers:
                m.resume(world)
            for place in self._world:
                after = self._take(world, place)
                place.explored = place.explored or (explored and after[0] != place.before)
                place.before, place.before_elements = after

    def end(self, world: World, scenario: str) -> None:
        """The scenario ended: each rule's hits in its world, added to the run's."""
        places, self._world = self._world, []
        managers, self._managers = self._managers, []
        for m in managers:
            m.fold(world)
            for cov in m.end(scenario):
                self._keep(cov)
        for place in places:
            self._fold(world, place)
            for i, rule in enumerate(place.cov.rules):
                rule.hits = None if i in place.uncounted else place.hits[i]
                if rule.elements is not None and rule.hits is not None:
                    rule.elements = {k: (place.elements[i] or {}).get(k, 0) for k in rule.elements}
            said = [  # a rule not counted; the elements of a counted rule's named set not measured
                f"{r.where()} not counted: {place.uncounted[i]}"
                if i in place.uncounted
                else f"{r.where()}: {r.elements_note}"
                for i, r in enumerate(place.cov.rules)
                if i in place.uncounted or r.elements_note
            ]
            if said:
                place.cov.note = "; ".join(x for x in (place.cov.note, *said) if x)
            if any(r.hits for r in place.cov.rules):
                place.cov.scenarios.add(scenario)
            if place.explored:
                place.cov.explored.add(scenario)
            self._keep(place.cov)

    def _keep(self, cov: FileCoverage) -> None:
        mine = self.files.get(cov.key)
        if mine is None:
            self.files[cov.key] = cov
        else:
            mine.add(cov)

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


def paused(cov: object, world: World) -> contextlib.AbstractContextManager[None]:
    """`cov.paused(world)`, or nothing where the run counts no coverage (a session's
    `coverage`: None, or this run's Coverage)."""
    return cov.paused(world) if isinstance(cov, Coverage) else contextlib.nullcontext()
