"""Parsers: what `ping`, `ip -j`, `ss` and `conntrack` print, as typed results, and the
typed rules (Ruleset) every firewall kind's reader gives (iptables-save's and nft's own
parsers are their kinds': nslab.firewall.iptables_parse, nslab.firewall.nft_parse).

Standard library only, so the lab model and the steps can trust them without a target.
`jc` was tried for ping and rejected: on the seed's own 100%-loss output (iputils
20221126) it reports data_bytes=5684 and packet_loss_percent=None, and it raises on
"ping: connect: Network is unreachable". `ip -j` is JSON already. Every function is
tested on real captured output (tests/data/).

>>> r = ping("3 packets transmitted, 0 received, 100% packet loss, time 2061ms")
>>> (r.transmitted, r.received, r.loss_pct, r.error_kind)
(3, 0, 100.0, 'timeout')
"""

from __future__ import annotations

import ipaddress
import json
import re
from dataclasses import dataclass, field

# --- ping ---------------------------------------------------------------------------------

NETWORK_UNREACHABLE = "network-unreachable"
HOST_UNREACHABLE = "host-unreachable"
UNKNOWN_HOST = "unknown-host"
TIMEOUT = "timeout"
# ping refused before sending anything: a claim of its own, not a loss
PING_REFUSALS = (NETWORK_UNREACHABLE, UNKNOWN_HOST)

_STATS = re.compile(
    r"(?P<tx>\d+) packets transmitted, (?P<rx>\d+) (?:packets )?received"
    r"(?:, \+(?P<dup>\d+) duplicates)?(?:, \+(?P<err>\d+) errors)?"
    r", (?P<loss>[\d.]+)% packet loss(?:, time (?P<time>\d+)ms)?"
)
_RTT = re.compile(
    r"(?:rtt|round-trip) min/avg/max(?:/mdev)? = "
    r"(?P<min>[\d.]+)/(?P<avg>[\d.]+)/(?P<max>[\d.]+)(?:/(?P<mdev>[\d.]+))? ms"
)
_REPLY = re.compile(  # the source may be IPv6 (colons): it ends at ": "
    r"^\d+ bytes from (?P<src>\S+?):? .*?icmp_seq=(?P<seq>\d+).*?time=(?P<time>[\d.]+) ms", re.M
)
_ERRORS = (
    (re.compile(r"Network is unreachable"), NETWORK_UNREACHABLE, "Network is unreachable"),
    (re.compile(r"Destination Net Unreachable"), NETWORK_UNREACHABLE, "Destination Net Unreachable"),
    (re.compile(r"Destination Host Unreachable"), HOST_UNREACHABLE, "Destination Host Unreachable"),
    (
        re.compile(
            r"ping: (?P<host>\S+): (?P<why>Name or service not known|Temporary failure in name "
            r"resolution|No address associated with hostname)"
        ),
        UNKNOWN_HOST,
        None,
    ),
    (re.compile(r"ping: unknown host"), UNKNOWN_HOST, "unknown host"),
)


@dataclass(frozen=True)
class Rtt:
    min: float
    avg: float
    max: float
    mdev: float | None


@dataclass(frozen=True)
class PingResult:
    """One ping run. `error` is ping's own words; `error_kind` is for logic."""

    transmitted: int
    received: int
    loss_pct: float
    rtt: Rtt | None = None
    error: str | None = None
    error_kind: str | None = None
    errors: int = 0
    duplicates: int = 0
    time_ms: int | None = None
    reply_from: tuple[str, ...] = ()
    summary: str = ""  # the "N packets transmitted, ..." line, verbatim

    @property
    def all_lost(self) -> bool:
        return self.transmitted > 0 and self.received == 0


def ping(text: str) -> PingResult:
    """Parse iputils (or busybox) ping output, successful or not."""
    error = kind = None
    for pattern, err_kind, words in _ERRORS:
        m = pattern.search(text)
        if m:
            kind = err_kind
            error = words or m.group("why")
            break
    stats = _STATS.search(text)
    if stats is None:
        # ping sent nothing: it refused (connect() failed, the name did not resolve) or never
        # ran at all; `summary` stays empty and the probe tells the two apart.
        return PingResult(
            0, 0, 100.0, error=error or text.strip() or "no output", error_kind=kind or "failed"
        )
    tx, rx = int(stats["tx"]), int(stats["rx"])
    if kind is None and tx and rx == 0:
        kind, error = TIMEOUT, "no reply"
    rtt_m = _RTT.search(text)
    rtt = None
    if rtt_m:
        rtt = Rtt(
            float(rtt_m["min"]),
            float(rtt_m["avg"]),
            float(rtt_m["max"]),
            float(rtt_m["mdev"]) if rtt_m["mdev"] else None,
        )
    return PingResult(
        transmitted=tx,
        received=rx,
        loss_pct=float(stats["loss"]),
        rtt=rtt,
        error=error,
        error_kind=kind,
        errors=int(stats["err"] or 0),
        duplicates=int(stats["dup"] or 0),
        time_ms=int(stats["time"]) if stats["time"] else None,
        reply_from=tuple(m["src"] for m in _REPLY.finditer(text)),
        summary=stats.group(0),
    )


# --- ip -j ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class RouteEntry:
    """One route from `ip -j route`; `line()` renders it the way `ip route` prints it."""

    dst: str
    dev: str | None = None
    gateway: str | None = None
    protocol: str | None = None
    scope: str | None = None
    prefsrc: str | None = None
    metric: int | None = None

    def line(self) -> str:
        parts = [self.dst]
        if self.gateway:
            parts += ["via", self.gateway]
        if self.dev:
            parts += ["dev", self.dev]
        if self.protocol and self.protocol != "boot":
            parts += ["proto", self.protocol]
        if self.scope and self.scope != "global":
            parts += ["scope", self.scope]
        if self.prefsrc:
            parts += ["src", self.prefsrc]
        if self.metric is not None:
            parts += ["metric", str(self.metric)]
        return " ".join(parts)


def routes(ip_json: str) -> list[RouteEntry]:
    """Parse `ip -j route` (iproute2 >= 4.13)."""
    return [
        RouteEntry(
            dst=r["dst"],
            dev=r.get("dev"),
            gateway=r.get("gateway"),
            protocol=r.get("protocol"),
            scope=r.get("scope"),
            prefsrc=r.get("prefsrc"),
            metric=r.get("metric"),
        )
        for r in json.loads(ip_json or "[]")
    ]


def addresses(ip_json: str) -> dict[str, list[ipaddress.IPv4Interface | ipaddress.IPv6Interface]]:
    """Parse `ip -j addr`: interface name -> its addresses with prefixes."""
    out: dict[str, list[ipaddress.IPv4Interface | ipaddress.IPv6Interface]] = {}
    for link in json.loads(ip_json or "[]"):
        out[link["ifname"]] = [
            ipaddress.ip_interface(f"{a['local']}/{a['prefixlen']}")
            for a in link.get("addr_info", [])
            if "local" in a
        ]
    return out


@dataclass(frozen=True)
class Link:
    name: str
    kind: str | None  # bridge, veth, ... (needs `ip -d`)
    master: str | None
    state: str
    up: bool


def links(ip_json: str) -> list[Link]:
    """Parse `ip -j -d link`."""
    return [
        Link(
            name=lk["ifname"],
            kind=(lk.get("linkinfo") or {}).get("info_kind"),
            master=lk.get("master"),
            state=lk.get("operstate", "UNKNOWN"),
            up="UP" in lk.get("flags", []),
        )
        for lk in json.loads(ip_json or "[]")
    ]


# --- iptables-save ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Rule:
    """One `-A CHAIN ...` line. `spec` is the rule without `-A CHAIN`, as iptables -C takes it."""

    chain: str
    spec: str
    target: str | None
    packets: int | None = None
    bytes: int | None = None
    nd: int | None = None  # neighbour discovery nslab's own rule counted for it (taken off packets)
    handle: int | None = None  # nft's handle for it (`nft -a list ruleset` names rules by it)


@dataclass
class Chain:
    name: str
    policy: str | None  # None for user chains ("-")
    packets: int | None = None
    bytes: int | None = None
    rules: list[Rule] = field(default_factory=list)
    kind: str | None = None  # an nft base chain's type: filter, nat, route (None: from the table)


@dataclass
class Table:
    name: str
    chains: dict[str, Chain] = field(default_factory=dict)


@dataclass
class Ruleset:
    """All tables of one iptables-save run, rules in order, with counters when saved with -c."""

    tables: dict[str, Table] = field(default_factory=dict)
    counters: dict[str, int] = field(default_factory=dict)  # nft's named counters: packets

    def chain(self, name: str, table: str = "filter") -> Chain | None:
        t = self.tables.get(table)
        return t.chains.get(name) if t else None

    def chain_names(self, table: str = "filter") -> list[str]:
        t = self.tables.get(table)
        return list(t.chains) if t else []


NSLAB_OWN = "nslab-"  # the comment of a rule nslab adds to a world's copy (nslab.coverage.counts)
NSLAB_COUNT = NSLAB_OWN + "count"  # counts the user's rule after it, which has no counter
NSLAB_ND = NSLAB_OWN + "nd"  # counts the neighbour discovery that could match the rule after it
NSLAB_ELEM = NSLAB_OWN + "elem"  # counts one element of the map the rule after it looks up
NSLAB_ELEM_ND = NSLAB_OWN + "xnd"  # counts the neighbour discovery found as that element
NSLAB_LOOP = NSLAB_OWN + "loop"  # counts the tracer's loopback pings the rule after it could match
# nft's `comment "nslab-nd"`, iptables-save's `--comment nslab-nd`, iptables -L's `/* nslab-nd */`
_LISTED_OWN = re.compile(r'comment "?' + NSLAB_OWN + r"|/\* " + NSLAB_OWN)


def nslab_listed(line: str) -> bool:
    """Whether a line of a ruleset listing (nft list, iptables-save) is a rule of nslab's own."""
    return bool(_LISTED_OWN.search(line))


def without_nslab(text: str) -> str:
    """A ruleset listing as a user reads it: without the rules nslab added to count (rule
    coverage's, nslab.coverage.counts), which are in the world's copy, not the user's file. A
    line of `nft -j` JSON keeps its other rules."""
    out = []
    for line in text.splitlines(keepends=True):
        if line.startswith('{"nftables"') and NSLAB_OWN in line:
            try:
                listing = json.loads(line)
            except ValueError:  # not one JSON document: left as it was
                out.append(line)
                continue
            kept = [i for i in listing["nftables"] if not ("rule" in i and nslab_own(i["rule"]))]
            out.append(json.dumps({"nftables": kept}) + ("\n" if line.endswith("\n") else ""))
        elif not nslab_listed(line):
            out.append(line)
    return "".join(out)


# --- ss and conntrack ---------------------------------------------------------------------


@dataclass(frozen=True)
class Socket:
    """A listening socket from `ss -H -tuln`: tcp LISTEN or udp UNCONN on an address and port."""

    proto: str
    state: str
    address: str  # "*" for any, "0.0.0.0", "[::]", an address
    port: int


def ss_listening(text: str) -> list[Socket]:
    """Parse `ss -H -tuln` (iproute2): Netid State Recv-Q Send-Q Local:Port Peer:Port."""
    out = []
    for line in text.splitlines():
        fields = line.split()
        if len(fields) < 5:
            continue
        address, _, port = fields[4].rpartition(":")
        if "%" in address:  # "0.0.0.0%lo": bound to a device
            address = address.split("%", 1)[0]
        out.append(Socket(fields[0], fields[1], address, int(port) if port.isdigit() else 0))
    return out


@dataclass(frozen=True)
class ConntrackEntry:
    """One conntrack entry: its original and reply directions, and TCP state or flags."""

    proto: str
    state: str | None  # TCP only: ESTABLISHED, SYN_SENT, TIME_WAIT ...
    original: dict[str, str]  # src, dst, sport, dport (as the first packet had them)
    reply: dict[str, str]  # the same for the answer: a NAT shows here
    flags: tuple[str, ...] = ()  # ASSURED, UNREPLIED ...

    def describe(self) -> str:
        o = self.original
        flags = "".join(f" [{f}]" for f in self.flags)
        state = f" {self.state}" if self.state else ""
        return (
            f"{self.proto}{state} {o.get('src')}:{o.get('sport')} -> {o.get('dst')}:{o.get('dport')}{flags}"
        )


_KV = re.compile(r"(\w+)=(\S+)")


def conntrack(text: str) -> list[ConntrackEntry]:
    """Parse `conntrack -L` (conntrack-tools): one flow per line, the summary line ignored."""
    flows = []
    for line in text.splitlines():
        fields = line.split()
        if len(fields) < 4 or not fields[1].isdigit():
            continue
        proto = fields[0]
        state = next((f for f in fields[3:] if f.isupper() and "=" not in f and not f.startswith("[")), None)
        pairs = [_KV.fullmatch(f) for f in fields]
        keyed = [(m[1], m[2]) for m in pairs if m]
        half = [k for k, _ in keyed].index("src", 1) if [k for k, _ in keyed].count("src") > 1 else len(keyed)
        original = {k: v for k, v in keyed[:half] if k in ("src", "dst", "sport", "dport")}
        reply = {k: v for k, v in keyed[half:] if k in ("src", "dst", "sport", "dport")}
        flags = tuple(f.strip("[]") for f in fields if f.startswith("[") and f.endswith("]"))
        flows.append(ConntrackEntry(proto, state, original, reply, flags))
    return flows


def nslab_own(rule: dict[str, object]) -> bool:
    """Whether an `nft -j` rule is nslab's own (rule coverage's neighbour-discovery count):
    never the user's rule, never counted in a chain's positions."""
    return str(rule.get("comment", "")).startswith(NSLAB_OWN)
