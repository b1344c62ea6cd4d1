"""Which rule decided each of many concurrent flows, from nftables' own trace.

Counters read around a batch of concurrent probes cannot say which flow a rule counted,
and counters around each flow alone cost ~32 ms a flow on the dmz lab (two snapshots of
every firewall place), 6.4 s for its 160 flows. The kernel's trace names the rule per
packet: a table of nslab's own (`inet nslab_trace`, hooked before everything else) sets
`meta nftrace` on every packet in each firewall place, `nft -a monitor trace` there prints
each traced packet's headers and every rule it met (with its handle), and each flow's
first packet is found by its source port (TCP, UDP) or echo identifier (ICMP). The whole
flow set then costs one batch. It works for native nft and for iptables-nft (whose rules
are nf_tables rules); a place with iptables-legacy rules cannot be traced so (the caller
falls back to counters around each flow).

Rules are named exactly as the counter evidence names them (nslab.firewall.evidence.Decision:
place, table, chain, 1-based position, target, the rule as its tool prints it): a trace
line gives the rule's handle, the place's `nft -j list ruleset` its position, the place's
own snapshot (iptables-save or nft) its parsed form, and the trace line itself nft's
text of it; a lab's ruleset file, where it gives the chain, the user's words and line.
The monitor's text is parsed in nslab.probe.trace_text.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace

from nslab import firewall as firewalls
from nslab.commands import Runner
from nslab.errors import TargetError
from nslab.firewall.evidence import (
    HOST,
    MOVES,
    Decision,
    Sources,
    attach,
    decides,
    filters,
    policy_decides,
    settle,
    tally,
)
from nslab.machine.targets.base import Spawned
from nslab.parse import Ruleset, nslab_own
from nslab.probe.trace_marks import trace_table
from nslab.probe.trace_text import TABLE, Key, Trace, answers_to, concerns, parse, rule_text

START, END = "127.0.0.2", "127.0.0.3"  # loopback pings that mark a monitor ready, and done
WAIT = 3.0  # seconds for a monitor to show a marker (it shows within milliseconds)
RESEND = 0.1  # seconds before the marker ping is sent again
_HANDLE = re.compile(r"# handle (\d+) \(verdict (\w+)")
_NAT = re.compile(r"\b(masquerade|snat|dnat|redirect)\b", re.I)
_LISTING = ("nft", "-j", "list", "ruleset")  # the listing that numbers the rules by handle


@dataclass
class TracedFirewall:
    """A firewall place being traced: its names for rules, and its monitor."""

    spec: str  # PLACE:TOOL
    ruleset: Ruleset  # as the place's own tool prints it: the rules' text and targets
    positions: dict[tuple[str, str, str, int], int]  # (family, table, chain, handle) -> 1-based
    kinds: dict[tuple[str, str, str], str]  # a chain's type: filter, nat, route (a user chain: its callers')
    hooks: dict[tuple[str, str, str], str] = field(default_factory=dict)  # a base chain's hook
    written: Sources | None = None  # nslab.firewall.sources
    monitor: Spawned | None = None
    pid: str = ""  # the monitor's and its reader's (tail), inside the world
    text: list[str] = field(default_factory=list)

    @property
    def where(self) -> str:
        return self.spec.partition(":")[0]

    @property
    def ns(self) -> str | None:
        return None if self.where == HOST else self.where

    def table_name(self, family: str, table: str) -> str:
        if firewalls.get(self.spec.partition(":")[2]).nft:  # native nft names every table by family
            return f"{family} {table}"
        return table if family == "ip" else f"{family} {table}"

    def decision(self, family: str, table: str, chain: str, kind: str, rest: str) -> Decision | None:
        """The rule or policy a trace event names, as the counter evidence names it."""
        name = self.table_name(family, table)
        chain_kind = self.kinds.get((family, table, chain)) or None  # None: a user chain
        if kind == "policy":
            verdict = rest.split()[0].upper() if rest else ""
            if verdict not in ("ACCEPT", "DROP") or not filters(chain_kind, name):
                return None
            rules = self.ruleset.chain(chain, name)
            hook = self.hooks.get((family, table, chain), "")
            if rules is None or not policy_decides(replace(rules, policy=verdict), hook):
                return None  # it let the packet on to the next hook, or no rule of the user's is there
            return Decision(self.where, name, chain, None, verdict, "", 1)
        m = _HANDLE.search(rest)
        if m is None:
            return None
        position = self.positions.get((family, table, chain, int(m[1])))
        parsed = self.ruleset.chain(chain, name)
        if position is None or parsed is None or position > len(parsed.rules):
            return None
        rule = parsed.rules[position - 1]
        verdict = m[2].upper()
        # native nft: the rule as nft lists it (the trace line's own text), not as nslab
        # renders its JSON; iptables-nft: as iptables-save prints it (nft shows xt matches)
        text = rule_text(rest) if firewalls.get(self.spec.partition(":")[2]).nft else ""
        of = len(parsed.rules)
        if _NAT.search(rest) and rule.target:
            d = Decision(self.where, name, chain, position, rule.target, rule.spec, 1, of, text)
            return attach(d, self.written)
        if verdict == "DROP" and "reject" in rest:
            verdict = "REJECT"
        target = rule.target or verdict
        if verdict not in ("ACCEPT", "DROP", "REJECT") or not decides(target, chain_kind, name):
            return None  # the counter evidence's own rule: a user chain of the filter table decides
        return attach(
            Decision(self.where, name, chain, position, target, rule.spec, 1, of, text), self.written
        )


def usable(runner: Runner, places: Sequence[str]) -> str | None:
    """None if every place can be traced, else why not (the caller uses counters)."""
    tools = {p.partition(":")[2] for p in places}
    if "legacy" in tools:
        return "iptables-legacy rules cannot be traced by nft"
    if not runner.run(["sh", "-c", "command -v nft"]).ok:
        return "nft is not installed"
    if tools & {"iptables", "iptables4"}:
        version = runner.run(["iptables", "-V"]).stdout
        if "nf_tables" not in version:
            return f"the host's iptables is not iptables-nft ({version.strip() or 'none'})"
    return None


def _trace_file(place: TracedFirewall) -> str:
    """Where a place's monitor writes, in the world's own /run."""
    return f"/run/nslab-trace-{place.where}.txt"


class Tracer:
    """Traces every firewall place of a world around one batch of probes."""

    def __init__(
        self,
        world: Runner,
        spawn: Callable[[list[str]], Spawned],
        places: Sequence[str],
        written: Sources | None = None,
        answers: bool = True,
    ) -> None:
        self.world = world
        self.answers = answers  # trace each flow's answer too (ANSWERS)
        self.spawn = spawn  # the world's: a process inside it
        self.places: list[TracedFirewall] = []
        self.specs = list(places)
        self.written = written  # the lab's ruleset files' rules (nslab.firewall.sources)
        # after decisions(): where each flow's first packet was last headed, where a DNAT
        # changed that (address, port); None where nothing did
        self.landed: list[tuple[str, int] | None] = []
        self.marks = 0  # checkpoints so far: each its own loopback address
        self.lost = 0  # nft's "We lost some netlink events" lines a checkpoint has reported
        # after decisions(): every neighbour discovery packet a rule dropped (its headers, the drop)
        self.nd_drops: list[tuple[str, Decision]] = []
        # after decisions(): the flows whose own packets were traced, and those an answer was
        self.seen: set[int] = set()
        self.answered: set[int] = set()

    def _place(self, spec: str) -> TracedFirewall:
        ns = None if spec.partition(":")[0] == HOST else spec.partition(":")[0]
        tool = spec.partition(":")[2]
        said = {a: self.world.run(list(a), ns=ns).stdout for a in firewalls.get(tool).snapshot}
        snap = firewalls.V6_MARK.join(said.values())
        # native nft's snapshot is this very listing: read once (a place was listed twice
        # per trace, each listing a process in the world)
        text = said[_LISTING] if _LISTING in said else self.world.run(list(_LISTING), ns=ns).stdout
        listing = json.loads(text or "{}")
        positions: dict[tuple[str, str, str, int], int] = {}
        kinds: dict[tuple[str, str, str], str] = {}
        hooks: dict[tuple[str, str, str], str] = {}
        count: dict[tuple[str, str, str], int] = {}
        calls: list[tuple[tuple[str, str, str], tuple[str, str, str]]] = []  # (caller, jumped-to)
        for item in listing.get("nftables", []):
            if "chain" in item:
                c = item["chain"]
                kinds[(c["family"], c["table"], c["name"])] = c.get("type", "")
                hooks[(c["family"], c["table"], c["name"])] = c.get("hook", "")
            if "rule" in item and not nslab_own(item["rule"]):
                r = item["rule"]
                family, table, name = chain = (r["family"], r["table"], r["chain"])
                count[chain] = count.get(chain, 0) + 1
                positions[(family, table, name, int(r["handle"]))] = count[chain]
                for e in r.get("expr", []):
                    for verb in ("jump", "goto"):
                        if isinstance(e.get(verb), dict):
                            calls.append((chain, (family, table, e[verb]["target"])))
        # a chain jumped to from a filter chain filters (firewalld's filter_IN_public_allow,
        # in table inet firewalld): its rules decide as its callers' do
        for _ in range(len(calls)):
            changed = False
            for caller, callee in calls:
                if not kinds.get(callee) and kinds.get(caller):
                    kinds[callee], changed = kinds[caller], True
            if not changed:
                break
        ruleset = firewalls.parse_snapshot(tool, snap)
        return TracedFirewall(spec, ruleset, positions, kinds, hooks, self.written)

    def _mark(self, place: TracedFirewall, address: str, wait: float = WAIT) -> None:
        """Ping `address` on the place's loopback until its monitor shows it (a monitor just
        started may not listen yet: the first ping can go untraced); keep what came before
        the end mark."""
        assert place.monitor is not None
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            self.world.run(["ping", "-c", "1", "-W", "1", address], ns=place.ns)
            resend = time.monotonic() + RESEND
            while time.monotonic() < resend:
                line = place.monitor.readline(RESEND)
                if f"daddr {address} " in line:
                    return
                if address != START and line:
                    place.text.append(line)
                    # still reading the probes' own trace: a large lab's takes seconds
                    deadline = max(deadline, time.monotonic() + wait)
        raise TargetError(
            f"nft monitor trace in {place.where} showed no traced packet in {wait:.0f} s",
            "run `nslab doctor`; nslab explore needs nft's trace (CONFIG_NF_TABLES)",
        )

    def start(self) -> None:
        for spec in self.specs:
            place = self._place(spec)
            self.world.run(["nft", "-f", "-"], ns=place.ns, stdin=trace_table(self.answers), check=True)
            argv = ["nft", "-a", "monitor", "trace"]
            if place.ns is not None:
                argv = ["ip", "netns", "exec", place.ns, *argv]
            # its PID inside the world first: killing the process we hold (the world's
            # nsenter) would orphan the monitor in the world, and the world's end then
            # waited ~1.6 s for it (measured). Into a file, read through tail: nft writing
            # to our pipe, read only at the end, blocked once the pipe was full, stopped
            # reading the kernel's events, and the kernel dropped them ("We lost some netlink
            # events!": 55,000 of a 50-host lab's 56,100 flows "decided by nothing", measured)
            # (line-buffered where stdbuf is: a mark's lines waited in nft's 4 KiB buffer)
            # Both PIDs, nft's and tail's, ended by stop(): nft is no child of tail's (tail
            # reaps none, so a dead nft stayed a zombie and `tail --pid` waited on it: 2 s a
            # place at the end)
            script = (
                'f=$1; shift; : >"$f"; ! command -v stdbuf >/dev/null || set -- stdbuf -oL "$@"; '
                'p=$( ("$@" >>"$f" 2>&1 & echo "$!") ); echo "$p $$"; '
                'exec tail -s 0.05 --pid="$p" -n +1 -f "$f"'
            )
            place.monitor = self.spawn(["sh", "-c", script, "monitor", _trace_file(place), *argv])
            place.pid = place.monitor.readline(WAIT).strip()
            self.places.append(place)
        for place in self.places:
            self._mark(place, START)

    def _losses(self) -> int:
        return sum(1 for p in self.places for x in p.text if "lost some netlink events" in x)

    def checkpoint(self) -> bool:
        """Wait until every monitor has shown what came so far (a mark of its own, after
        the probes); whether the kernel dropped trace events since the last checkpoint
        (the caller probes those flows again, fewer at once)."""
        self.marks += 1
        for place in self.places:
            # nft may be seconds behind on a loaded machine: what it shows late is still shown
            self._mark(place, f"127.0.{1 + self.marks // 250}.{1 + self.marks % 250}", 5 * WAIT)
            # read up to the mark, and nothing but marks since: emptied, as the world's /run
            # holds 64 MiB (a 50-host lab's trace filled it; nft appends, so from 0 again)
            self.world.run(["truncate", "-s", "0", _trace_file(place)])
        lost, self.lost = self._losses() > self.lost, self._losses()
        return lost

    def stop(self) -> None:
        try:
            for place in self.places:
                self._mark(place, END)
        finally:
            for place in self.places:
                pids = place.pid.split()
                if pids and all(p.isdigit() for p in pids):
                    self.world.run(["kill", *pids])
                if place.monitor is not None:
                    # let the world's nsenter reap it and end by itself: killed first, it left
                    # the monitor a zombie in the world, whose end then took ~1.4 s (measured)
                    place.monitor.wait(2.0)
                    place.monitor.kill()
                self.world.run(["nft", "delete", "table", "inet", TABLE], ns=place.ns)
                self.world.run(["rm", "-f", _trace_file(place)])
        if self._losses() > self.lost:  # a flow whose events were dropped would read "decided by nothing"
            raise TargetError(
                "nft's trace lost events (the kernel's buffer overflowed): the deciding rules "
                "would be incomplete, so none are given",
                "run it again on a less loaded machine, or with fewer flows",
            )

    def decisions(
        self,
        keys: Sequence[Key],
        targets: Sequence[str | Sequence[str]] = (),
        earlier: Sequence[tuple[str, Decision]] = (),
    ) -> list[list[Decision]]:
        """Each key's decisions, in every place: the rules its first packet met, in the
        places it crossed and in the one a port-forward sent it on to (there its packet
        has the new destination: found by where the translating place sent it, see
        _assigned). A flow to `targets[i]` (its destination address, or every address whose
        neighbour its way needed: nslab.probe.neighbours) that nothing dropped, where a
        place dropped the neighbour discovery about one of them, gets that drop (its loss
        is the discovery's: without it the packet never left that hop). `earlier`: the
        discovery drops an earlier trace of the same world saw (`nd_drops` after
        decisions()): a neighbour still unresolved solicits no more while a later batch
        waits on it."""
        found: list[list[Decision]] = [[] for _ in keys]
        nd_drops: list[tuple[str, Decision]] = list(earlier)
        self.landed = [None] * len(keys)
        moved: set[int] = set()  # flows a DNAT or redirect sent elsewhere
        # the destinations a DNAT translated each flow from: a place's trace that still
        # sees one is from before the translation (the source host's own output chain, a
        # router on the way), and says nothing of where it landed. The places' traces come
        # place by place, not in the packet's order: Debian's workstation.nft on the
        # source h1, listed after router r, gave h1 -> s2 tcp/1000 "landed at s2:1000",
        # where r's map had sent it to s1:1234
        before: dict[int, set[tuple[str, int]]] = {}
        traced = [
            (place, trace, [place.decision(*event) for event in trace.events])
            for place in self.places
            for trace in parse("".join(place.text))
        ]
        owner = self._assigned(keys, traced)
        for n, (_, trace, decided) in enumerate(traced):
            if trace.nd:
                for d in decided:
                    if d is not None and d.drops:
                        nd_drops.append((trace.nd, replace(d, nd=True)))
            index = owner.get(n)
            if index is None:
                continue
            # a chain after the DNAT sees the new destination; a view of the old one is from
            # before it (a SYN sent again meets the DNAT's chain with the old one first; the
            # source host's own output chain, read after the router's, still sees it)
            if (
                index in moved
                and trace.to[0]
                and trace.to != (keys[index].dst, keys[index].dport)
                and trace.to not in before.get(index, ())
            ):
                self.landed[index] = trace.to
            for d in decided:
                if d is not None:
                    tally(found[index], d)
                if d is not None and d.target in MOVES:
                    moved.add(index)
                    before.setdefault(index, set()).add(trace.to)  # its packet line: before the rule
        # the answers, once it is known where a DNAT sent each flow (a hairpin's answer
        # comes from there, not from the address its sender called)
        answers = answers_to(keys, [t for _, t, _ in traced], owner, self.landed)
        self.answered = set(answers.values())
        self.seen = set(owner.values())
        for n, index in answers.items():
            for d in traced[n][2]:
                if d is not None:
                    tally(found[index], replace(d, reply=True))
        self.nd_drops = nd_drops
        for i, target in enumerate(targets):
            addresses = [target] if isinstance(target, str) else list(target)
            if any(addresses) and not any(d.drops for d in found[i]):
                for nd, d in nd_drops:
                    if any(a and concerns(nd, a) for a in addresses) and d not in found[i]:
                        found[i].append(d)
        return [settle(f) for f in found]

    @staticmethod
    def _assigned(
        keys: Sequence[Key], traced: Sequence[tuple[TracedFirewall, Trace, list[Decision | None]]]
    ) -> dict[int, int]:
        """Which flow each trace (by its position in `traced`) is: its exact key first; then
        the packet a DNAT sent on, in the place it landed at or crossed next, by where the
        translating place sent it (its protocol, source port, IPv4 identification, new
        destination address and port: its source may be SNAT'd on the way); then, for a
        flow whose addresses NAT changed, its ports alone. Each only where it names one
        flow: an ambiguous trace is nobody's (Debian's workstation.nft dropping a forward on
        srv2 read "no firewall rule or policy decided it": the packet srv2 saw had the
        DNAT's destination port)."""
        exact: dict[Key, int] = {k: i for i, k in enumerate(keys)}
        by_key: dict[tuple[str, int, int, int], list[int]] = {}
        for i, k in enumerate(keys):
            by_key.setdefault(k.loose, []).append(i)
        owner: dict[int, int] = {n: exact[t.key] for n, (_, t, _) in enumerate(traced) if t.key in exact}
        answers = answers_to(keys, [t for _, t, _ in traced], owner)

        def onward() -> dict[tuple[str, int, int, str, int], set[int]]:
            """Where each translating place sent its flows: the chains after its DNAT see it."""
            out: dict[tuple[str, int, int, str, int], set[int]] = {}
            moved: set[tuple[int, str]] = set()
            for n, (place, trace, decided) in enumerate(traced):
                index = owner.get(n)
                if index is None or trace.key is None or n in answers:
                    continue
                k = trace.key
                if (index, place.spec) in moved and trace.to[0] and k.proto != "icmp":
                    out.setdefault((k.proto, k.sport, trace.ipid, *trace.to), set()).add(index)
                if any(d is not None and d.target in MOVES for d in decided):
                    moved.add((index, place.spec))
            return out

        while True:
            sent = onward()
            progress = False
            for n, (_, trace, _) in enumerate(traced):
                if n in owner or n in answers or trace.key is None or trace.key.reply:
                    continue
                k = trace.key
                went = sent.get((k.proto, k.sport, trace.ipid, k.dst, k.dport), set())
                if len(went) == 1:
                    owner[n], progress = next(iter(went)), True
            if progress:
                continue
            for n, (_, trace, _) in enumerate(traced):
                loose = trace.key
                if loose is None or loose.reply or n in owner or n in answers:
                    continue
                same = by_key.get(loose.loose, [])
                if len(same) == 1:  # translated on the way: the ports or the id may still tell
                    owner[n], progress = same[0], True
            if not progress:
                return owner  # the answers' own traces are decisions()' (answers_to)
