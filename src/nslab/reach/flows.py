"""A lab's flows, derived from the lab, not written down (nslab explore, nslab diff): every
ordered pair of its places (each host, the simulated internet's server, and the lab's host
where it has addresses), in each family both ends have, to every address of the
destination (each interface's, and the uplink's where the upstream hangs off it: the
internet's way in to a port-forward), for ICMP and every TCP/UDP port the lab's ruleset
files match on (sets and maps included), plus the ports its `[explore]` table or `--ports`
names. The simulated internet routes, as the real one, to public addresses only: its
flows to a lab's private addresses are not probed but listed once (`unroutable`).

>>> ports_in_text("tcp dport { 22, 443 } accept\\nudp dport 53 accept", "nft")
[('tcp', 22), ('tcp', 443), ('udp', 53)]
>>> ports_in_text("dnat to tcp dport map { 80 : 10.2.0.10, 8080 : 10.2.0.11 . 8000 }", "nft")
[('tcp', 80), ('tcp', 8000), ('tcp', 8080)]
>>> ports_in_text("-A FORWARD -p tcp -m multiport --dports 80,8000:8001 -j ACCEPT", "iptables")
[('tcp', 80), ('tcp', 8000), ('tcp', 8001)]
"""

from __future__ import annotations

import ipaddress
import re
import socket
from collections.abc import Iterable
from dataclasses import dataclass

from nslab.errors import LabError
from nslab.firewall.rulesets import with_included
from nslab.lab import Lab
from nslab.lab.checks import IPAddress
from nslab.lab.checks import routable as is_routable
from nslab.probe.ports import Service, check_port

HOST = "host"  # the lab's host (the world's root namespace): a reserved name no lab host has
INTERNET = "the internet"
RANGE_ENDS = 2  # a port range is probed at its two ends: inside the range, not every port in it


@dataclass(frozen=True, order=True)
class Flow:
    """One flow: from a place to a place, a protocol and port, a family; `at` the address of
    the destination it goes to where that is not the place's first of the family (another
    interface's, the uplink's): `pc -> edge@10.2.0.1 tcp/443 v4`."""

    src: str
    dst: str
    proto: str  # icmp, tcp, udp
    port: int = 0
    v6: bool = False
    at: str = ""

    @property
    def service(self) -> Service:
        return Service(self.proto, self.port, self.v6)

    @property
    def service_words(self) -> str:
        return "icmp" if self.proto == "icmp" else f"{self.proto}/{self.port}"

    @property
    def family(self) -> str:
        return "v6" if self.v6 else "v4"

    @property
    def to(self) -> str:
        """The destination as flows name it: `edge`, or `edge@10.2.0.1`."""
        return f"{self.dst}@{self.at}" if self.at else self.dst

    def words(self) -> str:
        """`pc -> web tcp/443 v6`: a record file's and a report's name for the flow."""
        return f"{self.src} -> {self.to} {self.service_words} {self.family}"

    @classmethod
    def parse(cls, text: str) -> Flow:
        m = _FLOW.fullmatch(text.strip())
        if m is None:
            raise LabError(f"{text!r} is not a flow", "write it like: pc -> web tcp/443 v6")
        proto, _, port = m["service"].partition("/")
        if proto == "icmp" and port:
            raise LabError(f"{text!r}: icmp has no port", "write icmp")
        if proto != "icmp" and not port:
            raise LabError(f"{text!r}: {proto} needs a port", f"write {proto}/PORT")
        at = m["at"] or ""
        if at:
            try:
                version = ipaddress.ip_address(at).version
            except ValueError:
                raise LabError(f"{text!r}: {at!r} is not an address", "write PLACE@ADDRESS") from None
            if version != (6 if m["family"] == "v6" else 4):
                raise LabError(f"{text!r}: {at} is not a {m['family']} address", "write the flow's family")
        port_number = check_port(port) if port else 0
        return cls(m["src"], m["dst"], proto, port_number, m["family"] == "v6", at)


_FLOW = re.compile(
    r"(?P<src>.+?) -> (?P<dst>.+?)(?:@(?P<at>[0-9A-Fa-f:.]+))? "
    r"(?P<service>icmp|tcp/\d+|udp/\d+) (?P<family>v4|v6)"
)


@dataclass(frozen=True)
class Place:
    """A place flows start or end at: its namespace (None: the lab's host), its first
    address in each family, and its others (either family)."""

    name: str
    ns: str | None
    v4: str | None
    v6: str | None
    more: tuple[str, ...] = ()

    def address(self, v6: bool) -> str | None:
        return self.v6 if v6 else self.v4

    def addresses(self, v6: bool) -> list[str]:
        """Every address of the family, the first first."""
        first = self.address(v6)
        return ([first] if first else []) + [a for a in self.more if (":" in a) == v6]

    def flow_address(self, flow: Flow) -> str | None:
        return flow.at or self.address(flow.v6)


def _place(name: str, ns: str | None, addresses: Iterable[IPAddress]) -> Place:
    seen = list(dict.fromkeys(str(a) for a in addresses))
    v4 = next((a for a in seen if ":" not in a), None)
    v6 = next((a for a in seen if ":" in a), None)
    return Place(name, ns, v4, v6, tuple(a for a in seen if a not in (v4, v6)))


def _uplink(lab: Lab) -> list[IPAddress]:
    up = lab.upstream
    return [a.ip for a in (up.host_address, up.host_address6) if a is not None]


def places(lab: Lab) -> list[Place]:
    """Every host (every address of each interface; the uplink's on the host the upstream
    hangs off; the public ones its rulesets DNAT), the lab's host where it has an address
    on a network, and the simulated internet's server."""
    out = []
    up = lab.upstream
    dnat = dnat_addresses(lab)
    uplink = _uplink(lab) if lab.internet else []  # a lab without [upstream] has none
    for h in lab.hosts:
        # the interfaces' addresses before their extra ones: the first of each family is
        # the place's own (the flows of older golden files name it so)
        mine: list[IPAddress] = [a.ip for i in h.interfaces for a in (i.address, i.address6) if a is not None]
        mine += [a.ip for i in h.interfaces for a in i.extra]
        mine += uplink if up.via == h.name else []
        mine += [ipaddress.ip_address(a) for a in dnat.get(h.name, [])]
        out.append(_place(h.name, h.name, mine))
    host: list[IPAddress] = [
        a.ip for n in lab.networks for a in (n.host, n.gateway, n.host6) if a is not None
    ]
    if host:
        out.append(_place(HOST, None, host + (uplink if up.via is None else [])))
    if lab.internet:
        out.append(Place(INTERNET, up.namespace, str(up.server), str(up.server6) if up.server6 else None))
    return out


def routable(address: str) -> bool:
    """Whether the internet routes to `address` (nslab.lab.checks.routable)."""
    return is_routable(ipaddress.ip_address(address))


@dataclass(frozen=True)
class Unroutable:
    """Flows from the internet no route can carry: to a private address of the lab."""

    family: str
    to: tuple[str, ...]  # `pc 10.1.0.10`, one a destination address

    def words(self) -> str:
        return (
            f"{INTERNET} -> {len(self.to)} private address(es) {self.family}: unroutable "
            f"(the internet routes no private range; only NAT or a public address lets it in): "
            + ", ".join(self.to)
        )

    def as_row(self) -> dict[str, object]:
        return {
            "from": INTERNET, "to": "private addresses", "service": "any", "family": self.family,
            "outcome": "unroutable", "decided_by": "the internet routes no private range",
            "seen_from": None, "reached": None, "from_address": None, "to_address": None,
            "landed_at": None, "to_addresses": list(self.to),
        }  # fmt: skip


def unroutable(lab: Lab) -> list[Unroutable]:
    """The internet's flows to private addresses, by family: listed once, never probed."""
    where = places(lab)
    internet = next((p for p in where if p.name == INTERNET), None)
    if internet is None:  # a lab without [upstream]: no internet to be unroutable from
        return []
    out = []
    for v6 in (False, True):
        lab_side = [p for p in where if p.name != INTERNET]
        to = [f"{p.name} {a}" for p in lab_side for a in p.addresses(v6) if not routable(a)]
        if to and internet.address(v6):
            out.append(Unroutable("v6" if v6 else "v4", tuple(to)))
    return out


def own_addresses(lab: Lab) -> dict[str, frozenset[str]]:
    """Each place's own addresses, every interface's: a source seen as anything else was
    NAT'd (a router's packets leave from the address of the interface they leave by)."""
    out: dict[str, set[str]] = {}
    for h in lab.hosts:
        for i in h.interfaces:
            out.setdefault(h.name, set()).update(str(a.ip) for a in (i.address, i.address6, *i.extra) if a)
    up = lab.upstream
    host = {str(a.ip) for n in lab.networks for a in (n.host, n.host6, n.gateway) if a is not None}
    if up.via is None and lab.internet:
        host |= {str(a.ip) for a in (up.host_address, up.host_address6) if a is not None}
    out[HOST] = host
    if not lab.internet:
        return {k: frozenset(v) for k, v in out.items()}
    out[INTERNET] = {
        str(a) for a in (up.server, up.dns, up.isp_address.ip, up.server6, up.dns6,
                         up.isp_address6.ip if up.isp_address6 else None) if a is not None
    }  # fmt: skip
    return {k: frozenset(v) for k, v in out.items()}


# --- public addresses a DNAT answers for (1:1 NAT) ----------------------------------------------

# `ip daddr 192.0.2.80`, `-d 192.0.2.80/32` (one address, not negated, not a set or subnet)
_DNAT_DADDR = re.compile(
    r"(?:\bip6?\s+daddr|(?:^|\s)(?:-d|--destination))\s+([0-9A-Fa-f:.]+)(?:/(32|128))?(?=\s)"
)


def dnat_addresses(lab: Lab) -> dict[str, list[str]]:
    """Each host's public addresses its rulesets DNAT (`ip daddr 192.0.2.80 ... dnat to
    10.2.0.10`, `-d 192.0.2.80 ... -j DNAT`) that no interface has: the internet routes
    them to the uplink, as an ISP routes a customer's block, and they are its addresses."""
    up = lab.upstream
    taken = {a for place in own_addresses(lab).values() for a in place}
    taken |= {str(a.ip) for a in (up.host_address, up.host_address6) if a is not None}
    out: dict[str, list[str]] = {}
    for h in lab.hosts:
        for r in h.rulesets:
            text = r.path.read_text(encoding="utf-8", errors="replace")
            for line in (x.split("#", 1)[0] for x in text.splitlines()):
                if not re.search(r"\bdnat\b|-j\s+DNAT\b", line):
                    continue
                for address in _DNAT_DADDR.findall(line):
                    try:
                        ok = routable(address[0]) and address[0] not in taken
                    except ValueError:
                        continue  # a set, a variable: not one address
                    if ok and address[0] not in out.get(h.name, []):
                        out.setdefault(h.name, []).append(address[0])
    return out


# --- the ports a ruleset matches on ----------------------------------------------------------

# `tcp dport 22`, `{ 22, 443 }`, `@set`, and a map's or verdict map's keys (`tcp dport map
# { 80 : 10.2.0.10 }`, `vmap @ports`): a port-forward's ports are in its map
_NFT_PORTS = re.compile(r"\b(tcp|udp|th)\s+dport\s+(?:!=\s*)?(?:v?map\s+)?(\{[^}]*\}|@[\w-]+|[\w:-]+)")
# where a port-forward lands: `dnat to 10.2.0.10:80`, `[2001:db8::10]:80`, a map's
# `10.2.0.10 . 80`; its listener must be there, or the flow reads "refused"
_NFT_DNAT_PORT = re.compile(r"(?:\]|\b\d{1,3}(?:\.\d{1,3}){3})(?::|\s+\.\s+)(\d+)\b")
_NFT_SET = re.compile(r"\b(?:set|map)\s+([\w-]+)\s*\{[^{}]*?\belements\s*=\s*\{([^}]*)\}", re.S)
_IPT_PROTO = re.compile(r"(?:^|\s)(?:-p|--protocol)\s+(tcp|udp)\b")
_IPT_PORTS = re.compile(r"(?:--dport|--destination-port|--dports|--destination-ports|--ports)\s+(\S+)")


def _values(text: str, proto: str) -> list[int]:
    """Port numbers in an nft or iptables port expression: `22`, `{ 80, 443 }`, `1000-1010`,
    `8000:8001`, `ssh`; a range counts at its two ends."""
    out: list[int] = []
    for item in re.split(r"[\s,{}]+", text):
        if not item:
            continue
        ends = re.split(r"[-:]", item) if re.fullmatch(r"\d+[-:]\d+", item) else [item]
        for end in ends[:RANGE_ENDS]:
            if end.isdigit():
                port = int(end)
            else:
                try:
                    port = socket.getservbyname(end, proto)
                except OSError:
                    continue  # not a port name (a variable, a keyword): not a port to probe
            if 1 <= port <= 65535:
                out.append(port)
    return out


def ports_in_text(text: str, kind: str) -> list[tuple[str, int]]:
    """(protocol, port) for every destination port a ruleset file's rules match on, sorted;
    `th dport` (either protocol) and an iptables rule without -p count for tcp and udp."""
    found: set[tuple[str, int]] = set()
    body = "\n".join(line.split("#", 1)[0] for line in text.splitlines())
    if kind in ("nft", "script"):
        sets = {name: elements for name, elements in _NFT_SET.findall(body)}
        for proto, expr in _NFT_PORTS.findall(body):
            expr = sets.get(expr[1:], "") if expr.startswith("@") else expr
            # a map's elements (`80 : 10.2.0.10`): the key is the port, the value is not
            expr = ",".join(e.split(":", 1)[0] for e in expr.split(","))
            for p in ("tcp", "udp") if proto == "th" else (proto,):
                found.update((p, port) for port in _values(expr, p))
        for line in body.splitlines():
            if re.search(r"\bdnat\b", line):
                named = set(re.findall(r"\b(tcp|udp)\s+dport\b", line)) or {"tcp", "udp"}
                for port in _NFT_DNAT_PORT.findall(line.split("dnat", 1)[1]):
                    found.update((p, int(port)) for p in named if 1 <= int(port) <= 65535)
    if kind in ("iptables", "ip6tables", "script"):
        for line in body.splitlines():
            proto = _IPT_PROTO.search(line)
            for expr in _IPT_PORTS.findall(line):
                for p in (proto[1],) if proto else ("tcp", "udp"):
                    found.update((p, port) for port in _values(expr, p))
    return sorted(found)


def lab_ports(lab: Lab, extra: Iterable[tuple[str, int]] = ()) -> list[tuple[str, int]]:
    """Every (protocol, port) of the lab's ruleset files, its [explore] table and `extra`."""
    found = set(extra) | set(lab.explore_ports)
    for h in lab.hosts:
        for r in h.rulesets:
            for path in with_included(r.kind, r.path):  # and the files an nft file includes
                found.update(ports_in_text(path.read_text(encoding="utf-8", errors="replace"), r.kind))
    return sorted(found)


def parse_ports(text: str) -> list[tuple[str, int]]:
    """`--ports tcp/22,udp/53`: one clear line for anything else."""
    out = []
    for item in filter(None, (x.strip() for x in text.split(","))):
        proto, _, port = item.partition("/")
        if proto not in ("tcp", "udp") or not port:
            raise LabError(
                f"{item!r} is not a port", "write tcp/PORT or udp/PORT, comma-separated: tcp/22,udp/53"
            )
        out.append((proto, check_port(port)))
    return out


def wanted(lab: Lab, more: Iterable[Flow] = (), ports: Iterable[tuple[str, int]] = ()) -> list[Flow]:
    """The lab's own flows and those of `more` whose two places the lab has (another
    lab's, a golden file's), sorted."""
    where = places(lab)
    known = {p.name for p in where}
    # a flow to an address the place does not have here (another lab's) is absent, not lost
    has = {(p.name, a) for p in where for a in (*p.more, p.v4, p.v6) if a}
    ours = {f for f in more if f.src in known and f.dst in known and (not f.at or (f.dst, f.at) in has)}
    return sorted(set(derive(lab, ports)) | ours)


def derive(lab: Lab, extra: Iterable[tuple[str, int]] = ()) -> list[Flow]:
    """The lab's flow set, sorted: every ordered pair of places, each family both have,
    to each address of the destination, ICMP and every port; but none from the internet
    to a private address (see `unroutable`)."""
    services = [("icmp", 0), *lab_ports(lab, extra)]
    where = places(lab)
    flows: list[Flow] = []
    for a in where:
        for b in where:
            if a.name == b.name:
                continue
            for v6 in (False, True):
                if not a.address(v6):
                    continue
                for n, to in enumerate(b.addresses(v6)):
                    if a.name == INTERNET and not routable(to):
                        continue
                    at = to if n else ""
                    flows.extend(Flow(a.name, b.name, proto, port, v6, at) for proto, port in services)
    return sorted(flows)
