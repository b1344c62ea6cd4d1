"""A lab's flows, derived from the lab, not written down (nslab explore, nslab diff): every
ordered pair of its places (each host, the simulated internet's server, and the lab's host
where it has addresses), in each family both ends have, for ICMP and every TCP/UDP port
the lab's ruleset files match on, plus the ports its `[explore]` table or `--ports` names.

>>> ports_in_text("tcp dport { 22, 443 } accept\\nudp dport 53 accept", "nft")
[('tcp', 22), ('tcp', 443), ('udp', 53)]
>>> ports_in_text("-A FORWARD -p tcp -m multiport --dports 80,8000:8001 -j ACCEPT", "iptables")
[('tcp', 80), ('tcp', 8000), ('tcp', 8001)]
"""

from __future__ import annotations

import re
import socket
from collections.abc import Iterable
from dataclasses import dataclass

from nslab.errors import LabError
from nslab.lab import Lab
from nslab.ports import Service, check_port
from nslab.rulesets import with_included

HOST = "host"  # the lab's host (the world's root namespace): a reserved name no lab host has
INTERNET = "the internet"
RANGE_ENDS = 2  # a port range is probed at its two ends: inside the range, not every port in it


@dataclass(frozen=True, order=True)
class Flow:
    """One flow: from a place to a place, a protocol and port, a family."""

    src: str
    dst: str
    proto: str  # icmp, tcp, udp
    port: int = 0
    v6: bool = False

    @property
    def service(self) -> Service:
        return Service(self.proto, self.port, self.v6)

    @property
    def service_words(self) -> str:
        return "icmp" if self.proto == "icmp" else f"{self.proto}/{self.port}"

    @property
    def family(self) -> str:
        return "v6" if self.v6 else "v4"

    def words(self) -> str:
        """`pc -> web tcp/443 v6`: a record file's and a report's name for the flow."""
        return f"{self.src} -> {self.dst} {self.service_words} {self.family}"

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
        return cls(m["src"], m["dst"], proto, check_port(port) if port else 0, m["family"] == "v6")


_FLOW = re.compile(r"(?P<src>.+?) -> (?P<dst>.+?) (?P<service>icmp|tcp/\d+|udp/\d+) (?P<family>v4|v6)")


@dataclass(frozen=True)
class Place:
    """A place flows start or end at: its namespace (None: the lab's host) and addresses."""

    name: str
    ns: str | None
    v4: str | None
    v6: str | None

    def address(self, v6: bool) -> str | None:
        return self.v6 if v6 else self.v4


def places(lab: Lab) -> list[Place]:
    """Every host (its first address in each family), the lab's host where it has an
    address on a network, and the simulated internet's server."""
    out = []
    for h in lab.hosts:
        v4, v6 = h.addresses(False), h.addresses(True)
        out.append(Place(h.name, h.name, str(v4[0]) if v4 else None, str(v6[0]) if v6 else None))
    mine4 = next((a for n in lab.networks for a in (n.host, n.gateway) if a is not None), None)
    mine6 = next((n.host6 for n in lab.networks if n.host6 is not None), None)
    if mine4 is not None or mine6 is not None:
        out.append(Place(HOST, None, str(mine4.ip) if mine4 else None, str(mine6.ip) if mine6 else None))
    up = lab.upstream
    out.append(Place(INTERNET, up.namespace, str(up.server), str(up.server6) if up.server6 else None))
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
    if up.via is None:
        host |= {str(a.ip) for a in (up.host_address, up.host_address6) if a is not None}
    out[HOST] = host
    out[INTERNET] = {
        str(a) for a in (up.server, up.dns, up.isp_address.ip, up.server6, up.dns6,
                         up.isp_address6.ip if up.isp_address6 else None) if a is not None
    }  # fmt: skip
    return {k: frozenset(v) for k, v in out.items()}


# --- the ports a ruleset matches on ----------------------------------------------------------

_NFT_PORTS = re.compile(r"\b(tcp|udp|th)\s+dport\s+(?:!=\s*)?(\{[^}]*\}|@[\w-]+|[\w:-]+)")
_NFT_SET = re.compile(r"\bset\s+([\w-]+)\s*\{[^{}]*?\belements\s*=\s*\{([^}]*)\}", re.S)
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
            for p in ("tcp", "udp") if proto == "th" else (proto,):
                found.update((p, port) for port in _values(expr, p))
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
    known = {p.name for p in places(lab)}
    return sorted(set(derive(lab, ports)) | {f for f in more if f.src in known and f.dst in known})


def derive(lab: Lab, extra: Iterable[tuple[str, int]] = ()) -> list[Flow]:
    """The lab's flow set, sorted: every ordered pair of places, each family both have,
    ICMP and every port."""
    services = [("icmp", 0), *lab_ports(lab, extra)]
    where = places(lab)
    flows: list[Flow] = []
    for a in where:
        for b in where:
            if a.name == b.name:
                continue
            for v6 in (False, True):
                if a.address(v6) and b.address(v6):
                    flows.extend(Flow(a.name, b.name, proto, port, v6) for proto, port in services)
    return sorted(flows)
