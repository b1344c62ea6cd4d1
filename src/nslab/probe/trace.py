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
"""

from __future__ import annotations

import ipaddress
import json
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace

from nslab import firewall as firewalls
from nslab.commands import Runner
from nslab.errors import TargetError
from nslab.firewall.evidence import HOST, Decision, Sources, attach, decides, filters, policy_decides, settle
from nslab.firewall.sources import listed_text
from nslab.machine.targets.base import Spawned
from nslab.parse import Ruleset, nslab_own

TABLE = "nslab_trace"
# A flow's first packet only (a SYN, an echo request; UDP's every datagram, as its first
# has no mark): its verdict is the first packet's (Tracer.decisions), and tracing every
# packet made the kernel's events outrun nft (a 20-host lab's 9,240 flows at once: "We lost
# some netlink events!"). Neighbour discovery too (a few packets a neighbour): a flow lost
# because a rule dropped the solicitations about its destination is named by them (tracing
# first packets only had lost that: "no firewall rule or policy decided it").
FIRST = (
    "tcp flags & (syn | ack) == syn meta nftrace set 1; meta l4proto udp meta nftrace set 1; "
    "icmp type echo-request meta nftrace set 1; icmpv6 type echo-request meta nftrace set 1; "
    "icmpv6 type { nd-neighbor-solicit, nd-neighbor-advert } meta nftrace set 1;"
)
TRACE_TABLE = (
    f"table inet {TABLE} {{\n"
    f"  chain pre {{ type filter hook prerouting priority -350; {FIRST} }}\n"
    f"  chain out {{ type filter hook output priority -350; {FIRST} }}\n"
    "}\n"
)
START, END = "127.0.0.2", "127.0.0.3"  # loopback pings that mark a monitor ready, and done
WAIT = 3.0  # seconds for a monitor to show a marker (it shows within milliseconds)
RESEND = 0.1  # seconds before the marker ping is sent again
_LINE = re.compile(r"trace id (\w+) (\w+) (\S+) (\S+) (packet|rule|policy|verdict)\b:? ?(.*)")
_HANDLE = re.compile(r"# handle (\d+) \(verdict (\w+)")
_NAT = re.compile(r"\b(masquerade|snat|dnat|redirect)\b", re.I)


@dataclass(frozen=True)
class Key:
    """How a flow's first packet is known in a trace: TCP and UDP by their addresses and
    ports (Linux gives two connections to different destinations the same source port,
    measured: the port alone is not enough), an echo request by its identifier."""

    proto: str  # tcp, udp, icmp
    sport: int = 0
    ident: int = 0  # icmp echo identifier
    src: str = ""
    dst: str = ""
    dport: int = 0

    @property
    def loose(self) -> tuple[str, int, int, int]:
        """Without the addresses (NAT may have changed them by the time a place sees it)."""
        return (self.proto, self.sport, self.dport, self.ident)

    def same_packet(self, earlier: Key) -> bool:
        """Whether this is `earlier`'s packet at a later chain of the same place: a DNAT
        changes its destination, an SNAT its source; its protocol, source port and echo
        identifier stay."""
        return (self.proto, self.sport, self.ident) == (earlier.proto, earlier.sport, earlier.ident)


def packet_key(headers: str) -> Key | None:
    """The key of a traced packet from its `packet:` line; None for anything but a flow's
    first packet (a reply, an ICMP error, neighbour discovery)."""
    m = re.search(r"\b(tcp|udp) sport (\d+) \1 dport (\d+)", headers)
    src, dst = (re.search(rf"\bip6? {w}addr (\S+)", headers) for w in ("s", "d"))
    if m:
        if m[1] == "tcp" and "tcp flags == syn " not in headers + " ":
            return None  # a SYN opens the flow; anything else is a later packet or an answer
        return Key(m[1], int(m[2]), 0, src[1] if src else "", dst[1] if dst else "", int(m[3]))
    echo = re.search(r"\bicmp type echo-request\b.*?\bicmp id (\d+)", headers)
    if echo:
        return Key("icmp", 0, int(echo[1]))  # the identifier alone: one per probe of a batch
    # nft 1.0.9 prints an ICMPv6 echo's identifier and sequence as one "parameter-problem"
    # word (identifier << 16 | sequence), measured; newer ones say "icmpv6 id N"
    echo6 = re.search(r"\bicmpv6 type echo-request\b.*?\bicmpv6 (id|parameter-problem) (\d+)", headers)
    if echo6:
        return Key("icmp", 0, int(echo6[2]) >> 16 if echo6[1] == "parameter-problem" else int(echo6[2]))
    return None


@dataclass
class Trace:
    """One packet's way through one base chain after another in one place: its headers
    (the flow it belongs to), then the rules it met."""

    key: Key | None
    events: list[tuple[str, str, str, str, str]] = field(default_factory=list)  # family table chain kind text
    nd: str = ""  # a neighbour discovery packet's headers ("" for any other packet)
    to: tuple[str, int] = ("", 0)  # the packet's destination address and port as this chain saw it


_ND = re.compile(r"\bicmpv6 type nd-neighbor-(solicit|advert)\b")


def solicited_node(address: str) -> str:
    """The multicast address a neighbour solicitation for `address` goes to (RFC 4291)."""
    low = ipaddress.IPv6Address(address).packed[-3:]
    return str(ipaddress.IPv6Address(bytes.fromhex("ff0200000000000000000001ff") + low))


def concerns(nd: str, address: str) -> bool:
    """Whether neighbour discovery headers are about `address` (from it, to it, or
    soliciting it): the discovery a flow to `address` needed on its last hop."""
    if ":" not in address:
        return False
    return any(f"addr {a} " in nd + " " for a in (address, solicited_node(address)))


# nslab's own marks (START, END) and anything else on loopback: never a probe's packet
_LOOPBACK = re.compile(r"\bip6? [sd]addr (127\.\S+|::1) ")


def parse(text: str) -> list[Trace]:
    """The traces of a monitor's text. A trace id is not one packet: the kernel derives
    it from the packet buffer, and a buffer freed and used again by a later packet (the
    end mark's ping, a reply) gives that packet the same id. Every base chain a packet
    enters starts with its headers (a `packet:` line), so a new packet line under an id
    starts a new trace, which continues the last one only where it is plainly the same
    packet further on (the same protocol, source port or echo identifier: NAT may have
    changed its addresses or destination port). Merged by id, a flow was credited with
    the rules of the end mark's ping (`iif "lo" accept`), and a flow whose buffer was
    used before lost its own rules; which flows met either changed from run to run."""
    out: list[Trace] = []
    last: dict[str, Trace] = {}
    for raw in text.splitlines():
        m = _LINE.match(raw.strip())
        if m is None:
            continue
        ident, family, table, chain, kind, rest = m.groups()
        if kind == "packet":
            key = None if _LOOPBACK.search(rest + " ") else packet_key(rest)
            prev = last.get(ident)
            if key is not None and prev is not None and prev.key is not None and key.same_packet(prev.key):
                key = prev.key
            nd = _ND.search(rest)
            daddr, dport = (
                re.search(r"\bip6? daddr (\S+)", rest),
                re.search(r"\b(?:tcp|udp) dport (\d+)", rest),
            )
            to = (daddr[1] if daddr else "", int(dport[1]) if dport else 0)
            last[ident] = Trace(key, nd=rest if nd else "", to=to)
            out.append(last[ident])
            continue
        trace = last.get(ident)
        if trace is None or table == TABLE:
            continue
        if kind in ("rule", "policy"):
            trace.events.append((family, table, chain, kind, rest))
    return out


def rule_text(rest: str) -> str:
    """A traced rule as nft lists it (`nft -a list ruleset`), without its handle, verdict
    and the counts of the moment: `tcp dport 7 counter accept`."""
    return listed_text(rest.partition(" # handle ")[0])


@dataclass
class Place:
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
        if self.spec.partition(":")[2] == "nft":
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
        text = rule_text(rest) if self.spec.partition(":")[2] == "nft" else ""
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


def _trace_file(place: Place) -> str:
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
    ) -> None:
        self.world = world
        self.spawn = spawn  # the world's: a process inside it
        self.places: list[Place] = []
        self.specs = list(places)
        self.written = written  # the lab's ruleset files' rules (nslab.firewall.sources)
        # after decisions(): where each flow's first packet was last headed, where a DNAT
        # changed that (address, port); None where nothing did
        self.landed: list[tuple[str, int] | None] = []
        self.marks = 0  # checkpoints so far: each its own loopback address
        self.lost = 0  # nft's "We lost some netlink events" lines a checkpoint has reported

    def _place(self, spec: str) -> Place:
        ns = None if spec.partition(":")[0] == HOST else spec.partition(":")[0]
        tool = spec.partition(":")[2]
        snap = firewalls.V6_MARK.join(
            self.world.run(list(a), ns=ns).stdout for a in firewalls.get(tool).snapshot
        )
        listing = json.loads(self.world.run(["nft", "-j", "list", "ruleset"], ns=ns).stdout or "{}")
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
        return Place(spec, ruleset, positions, kinds, hooks, self.written)

    def _mark(self, place: Place, address: str, wait: float = WAIT) -> None:
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
            self.world.run(["nft", "-f", "-"], ns=place.ns, stdin=TRACE_TABLE, check=True)
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

    def decisions(self, keys: Sequence[Key], targets: Sequence[str] = ()) -> list[list[Decision]]:
        """Each key's decisions, in every place: the rules its first packet met. A flow to
        `targets[i]` (its destination address) that nothing dropped, where a place dropped
        the neighbour discovery about that address, gets that drop (its loss is the
        discovery's: without it the packet never left the last hop)."""
        found: list[list[Decision]] = [[] for _ in keys]
        nd_drops: list[tuple[str, Decision]] = []
        self.landed = [None] * len(keys)
        moved: set[int] = set()  # flows a DNAT or redirect sent elsewhere
        exact: dict[Key, int] = {k: i for i, k in enumerate(keys)}
        by_key: dict[tuple[str, int, int, int], list[int]] = {}
        for i, k in enumerate(keys):
            by_key.setdefault(k.loose, []).append(i)
        for place in self.places:
            for trace in parse("".join(place.text)):
                if trace.nd:
                    for event in trace.events:
                        d = place.decision(*event)
                        if d is not None and d.drops:
                            nd_drops.append((trace.nd, replace(d, nd=True)))
                if trace.key is None:
                    continue
                index = exact.get(trace.key)
                if index is None:  # translated on the way: the ports or the id may still tell
                    same = by_key.get(trace.key.loose, [])
                    index = same[0] if len(same) == 1 else None
                if index is None:
                    continue
                if index in moved:
                    self.landed[index] = trace.to  # a chain after the DNAT sees the new destination
                for event in trace.events:
                    d = place.decision(*event)
                    if d is not None and d not in found[index]:
                        found[index].append(d)
                    if d is not None and d.target in ("DNAT", "REDIRECT"):
                        moved.add(index)
        for i, target in enumerate(targets):
            if target and not any(d.drops for d in found[i]):
                for nd, d in nd_drops:
                    if concerns(nd, target) and d not in found[i]:
                        found[i].append(d)
        return [settle(f) for f in found]
