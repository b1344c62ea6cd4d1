"""Parsers: what `ping`, `ip -j` and `iptables-save` print, as typed results.

Standard library only, so the lab model and the steps can trust them without a target.
`jc` was tried for ping and rejected: on the seed's own 100%-loss output (iputils
20221126) it reports data_bytes=5684 and packet_loss_percent=None, and it raises on
"ping: connect: Network is unreachable". `ip -j` is JSON already; iptables-save has no
maintained parser. Every function is tested on real captured output (tests/data/).

>>> r = ping("3 packets transmitted, 0 received, 100% packet loss, time 2061ms")
>>> (r.transmitted, r.received, r.loss_pct, r.error_kind)
(3, 0, 100.0, 'timeout')
"""

from __future__ import annotations

import ipaddress
import json
import re
import shlex
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
class Route:
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


def routes(ip_json: str) -> list[Route]:
    """Parse `ip -j route` (iproute2 >= 4.13)."""
    return [
        Route(
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


_COUNTERS = re.compile(r"\[(\d+):(\d+)\]")
_PLAIN = re.compile(r"[^\s'\"]+")  # an argument iptables-save prints without quotes


def iptables_save(text: str) -> Ruleset:
    """Parse iptables-save output, nf_tables or legacy, with or without -c counters."""
    rs = Ruleset()
    table: Table | None = None
    nd: dict[tuple[str, str], int] = {}  # nslab's ND counts (nslab.coverage.counts) before the next rule
    for lineno, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#") or line == "COMMIT":
            continue
        if line.startswith("*"):
            table = rs.tables.setdefault(line[1:], Table(line[1:]))
            continue
        if table is None:
            raise ValueError(f"line {lineno}: {line!r} before any *table header")
        if line.startswith(":"):
            name, policy, *rest = line[1:].split()
            counters = _COUNTERS.match(rest[0]) if rest else None
            table.chains[name] = Chain(
                name=name,
                policy=None if policy == "-" else policy,
                packets=int(counters[1]) if counters else None,
                bytes=int(counters[2]) if counters else None,
            )
            continue
        packets = nbytes = None
        counters = _COUNTERS.match(line)
        if counters:
            packets, nbytes = int(counters[1]), int(counters[2])
            line = line[counters.end() :].strip()
        args = shlex.split(line)
        if len(args) < 2 or args[0] != "-A":
            raise ValueError(f"line {lineno}: unexpected {raw!r}")
        chain_name = args[1]
        target = None
        for flag in ("-j", "-g"):
            if flag in args:
                target = args[args.index(flag) + 1]
        chain = table.chains.setdefault(chain_name, Chain(chain_name, None))
        key = (table.name, chain_name)
        if "--comment" in args and args[args.index("--comment") + 1].startswith(NSLAB_OWN):
            nd[key] = nd.get(key, 0) + (packets or 0)  # rule coverage's ND count: the next rule's
            continue
        nd_packets = nd.pop(key, None)
        if nd_packets is not None and packets is not None:  # neighbour discovery is housekeeping
            packets -= nd_packets
        spec = " ".join(a if _PLAIN.fullmatch(a) else shlex.quote(a) for a in args[2:])
        chain.rules.append(Rule(chain_name, spec, target, packets, nbytes, nd_packets))
    return rs


def iptables_policies(text: str) -> dict[str, str]:
    """Built-in chain policies from `iptables -L` text: {'FORWARD': 'DROP', ...}."""
    return dict(re.findall(r"^Chain (\S+) \(policy (\w+)", text, re.M))


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
class Flow:
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


def conntrack(text: str) -> list[Flow]:
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
        flows.append(Flow(proto, state, original, reply, flags))
    return flows


# --- nft -j list ruleset ----------------------------------------------------------------------


_IFNAMES = ("iifname", "oifname", "iif", "oif")  # meta keys nft prints without "meta"


def _nft_value(value: object) -> str:
    if isinstance(value, dict):
        if "prefix" in value:
            return f"{value['prefix']['addr']}/{value['prefix']['len']}"
        if "set" in value:
            return "{ " + ", ".join(_nft_value(v) for v in value["set"]) + " }"
        if "range" in value:
            low, high = value["range"]
            return f"{_nft_value(low)}-{_nft_value(high)}"
        if "concat" in value:  # `10.92.2.10 . 22`: an address and a port in one map value
            return " . ".join(_nft_value(v) for v in value["concat"])
        if "map" in value:  # `tcp dport map { 2222 : 10.92.2.10 . 22 }`, as nft lists it
            m = value["map"]
            pairs = m["data"].get("set", []) if isinstance(m.get("data"), dict) else []
            data = ", ".join(f"{_nft_value(k)} : {_nft_value(v)}" for k, v in pairs)
            return f"{_nft_left(m['key'])} map {{ {data} }}" if pairs else f"{_nft_left(m['key'])} map"
        if any(k in value for k in ("payload", "meta", "ct", "fib")):
            return _nft_left(value)  # type: ignore[arg-type]
        return json.dumps(value, sort_keys=True)
    if isinstance(value, list):
        return ",".join(_nft_value(v) for v in value)
    return str(value)


def _nft_left(left: dict[str, dict[str, str]]) -> str:
    if "payload" in left:
        return f"{left['payload'].get('protocol', '')} {left['payload'].get('field', '')}".strip()
    if "meta" in left:
        key = left["meta"]["key"]
        return key if key in _IFNAMES else f"meta {key}"
    if "ct" in left:
        return f"ct {left['ct']['key']}"
    if "fib" in left:  # reverse-path and address-type checks: "fib saddr . iif oif"
        return f"fib {' . '.join(left['fib']['flags'])} {left['fib']['result']}"
    return json.dumps(left, sort_keys=True)


def _nft_statement(stmt: dict[str, object]) -> str:
    """One statement of a rule's `expr`, rendered the way `nft list ruleset` prints it."""
    ((key, arg),) = stmt.items()
    if key == "match":
        m = arg  # type: ignore[assignment]
        op = "" if m["op"] in ("==", "in") else f"{m['op']} "  # type: ignore[index]
        left = _nft_left(m["left"])  # type: ignore[index]
        right = _nft_value(m["right"])  # type: ignore[index]
        if isinstance(m["right"], bool):  # type: ignore[index]
            right = "exists" if m["right"] else "missing"  # type: ignore[index]  # as nft prints a fib result
        if left in _IFNAMES and isinstance(m["right"], str):  # type: ignore[index]
            right = f'"{right}"'  # nft quotes interface names
        return f"{left} {op}{right}"
    if key in ("jump", "goto"):
        return f"{key} {arg['target']}"  # type: ignore[index]
    if key == "reject" and isinstance(arg, dict) and arg.get("expr"):
        return f"reject with {arg.get('type', 'icmp')} {arg['expr']}"
    if key in ("dnat", "snat") and isinstance(arg, dict):
        # as nft lists it: `dnat ip to tcp dport map { 2222 : 10.92.2.10 . 22 }` (the
        # family where the rule gives one: an inet table's), `snat to 10.0.0.1:80`
        port = f":{_nft_value(arg['port'])}" if "port" in arg else ""
        family = f" {arg['family']}" if arg.get("family") else ""
        return f"{key}{family} to {_nft_value(arg.get('addr', ''))}{port}"
    if key in ("redirect", "masquerade") and isinstance(arg, dict) and "port" in arg:
        return f"{key} to :{_nft_value(arg['port'])}"  # `redirect to :80`
    return key  # accept, drop, counter, masquerade, return, log ...


_NFT_VERDICTS = {
    "accept": "ACCEPT",
    "drop": "DROP",
    "reject": "REJECT",
    "masquerade": "MASQUERADE",
    "snat": "SNAT",
    "dnat": "DNAT",
    "redirect": "REDIRECT",
}


def nslab_own(rule: dict[str, object]) -> bool:
    """Whether an `nft -j` rule is nslab's own (rule coverage's neighbour-discovery count):
    never the user's rule, never counted in a chain's positions."""
    return str(rule.get("comment", "")).startswith(NSLAB_OWN)


def nft_json(text: str) -> Ruleset:
    """Parse `nft -j list ruleset` into the same typed rules as iptables-save, counters
    included where a rule has a `counter` statement. Tables are named "FAMILY NAME" (an
    iptables-nft table shows as "ip filter"); a base chain's `type` is its kind, so
    "which rule decided" treats every filter chain alike. Native nft keeps no counter for a
    chain's policy: its `packets` stay None. nslab's own rules (nslab.coverage.counts) are no
    rules here: their counts go to the user's rule after them (one without a counter of
    its own is counted by nslab's; neighbour discovery is taken off)."""
    rs = Ruleset()
    items = json.loads(text or '{"nftables": []}').get("nftables", [])
    # named counters (`counter name "web_hits"` in a rule): their packets are the rule's
    named = {
        (c["family"], c["table"], c["name"]): c for i in items if isinstance(c := i.get("counter"), dict)
    }
    rs.counters = {c["name"]: int(c["packets"]) for c in named.values()}
    # a named counter two rules share counts for both: its growth says neither which one
    # matched (an IPv4 frag-needed was credited to `icmpv6 type packet-too-big`), so such a
    # rule has no count of its own here (the trace names the rule that matched)
    uses: dict[tuple[str, str, str], int] = {}
    for i in items:
        r = i.get("rule")
        for e in r.get("expr", []) if isinstance(r, dict) else []:
            if isinstance(e.get("counter"), str):
                key = (r["family"], r["table"], e["counter"])
                uses[key] = uses.get(key, 0) + 1
    shared = {k for k, n in uses.items() if n > 1}
    pending: dict[tuple[str, str], dict[str, dict[str, int]]] = {}  # nslab's rules before the next
    for item in items:
        if "table" in item:
            t = item["table"]
            rs.tables.setdefault(f"{t['family']} {t['name']}", Table(f"{t['family']} {t['name']}"))
        elif "chain" in item:
            c = item["chain"]
            table = rs.tables.setdefault(f"{c['family']} {c['table']}", Table(f"{c['family']} {c['table']}"))
            policy = c.get("policy", "").upper() or None
            table.chains[c["name"]] = Chain(c["name"], policy, kind=c.get("type"))
        elif "rule" in item:
            r = item["rule"]
            table = rs.tables.setdefault(f"{r['family']} {r['table']}", Table(f"{r['family']} {r['table']}"))
            chain = table.chains.setdefault(r["chain"], Chain(r["chain"], None))
            exprs = r.get("expr", [])
            if nslab_own(r):  # its count belongs to the user's rule after it
                own = pending.setdefault((table.name, chain.name), {})
                own[str(r["comment"])] = next((e["counter"] for e in exprs if "counter" in e), {})
                continue
            own = pending.pop((table.name, chain.name), {})
            counter = next(
                (
                    e["counter"]
                    if isinstance(e["counter"], dict)
                    else None
                    if (r["family"], r["table"], e["counter"]) in shared
                    else named.get((r["family"], r["table"], e["counter"]))
                    for e in exprs
                    if "counter" in e
                ),
                None,
            )
            counter = counter or own.get(NSLAB_COUNT)
            nd_packets = own[NSLAB_ND].get("packets", 0) if NSLAB_ND in own else None
            found = [c for name, c in own.items() if name.startswith(NSLAB_ELEM)]
            nd = [c for name, c in own.items() if name.startswith(NSLAB_ELEM_ND)]
            if found:  # a rule with a map: its packets are those whose lookup found an element
                counter = {
                    k: sum(c.get(k, 0) for c in found) - sum(c.get(k, 0) for c in nd)
                    for k in ("packets", "bytes")
                }
            if counter and NSLAB_ND in own:  # neighbour discovery is housekeeping, never a verdict
                counter = {k: counter[k] - own[NSLAB_ND].get(k, 0) for k in ("packets", "bytes")}
            target = next((_NFT_VERDICTS[k] for e in exprs for k in e if k in _NFT_VERDICTS), None)
            target = target or next((e[k]["target"] for e in exprs for k in e if k in ("jump", "goto")), None)
            chain.rules.append(
                Rule(
                    r["chain"],
                    " ".join(
                        _nft_statement(e) if "counter" not in e else f'counter name "{e["counter"]}"'
                        for e in exprs
                        if "counter" not in e or isinstance(e["counter"], str)
                    )
                    or "(empty)",
                    target,
                    counter["packets"] if counter else None,
                    counter["bytes"] if counter else None,
                    nd_packets,
                    r.get("handle"),
                )
            )
    _inherit_kinds(rs)
    return rs


def _inherit_kinds(rs: Ruleset) -> None:
    """A chain jumped to (or goto'd) from a base chain takes its type: firewalld's
    filter_IN_public_allow, in table inet firewalld, filters as filter_INPUT does, so its
    rules decide verdicts (they were never named)."""
    for _ in range(sum(len(t.chains) for t in rs.tables.values())):
        changed = False
        for table in rs.tables.values():
            for chain in table.chains.values():
                for rule in chain.rules if chain.kind else ():
                    callee = table.chains.get(rule.target or "")
                    if callee is not None and callee.kind is None and callee.policy is None:
                        callee.kind, changed = chain.kind, True
        if not changed:
            return
