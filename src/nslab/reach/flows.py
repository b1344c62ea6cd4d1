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
from collections.abc import Iterable
from dataclasses import dataclass

from nslab.errors import LabError
from nslab.firewall import get_kind
from nslab.firewall.places import dnat_addresses as dnat_addresses  # places(), and its tests
from nslab.firewall.rulesets import with_included
from nslab.lab import Lab
from nslab.lab.addresses import HOST, INTERNET
from nslab.lab.addresses import own_addresses as own_addresses  # explore, review, the CLI
from nslab.lab.checks import IPAddress
from nslab.lab.checks import routable as is_routable
from nslab.probe.flow import Flow as Flow  # the one shape of a flow, here where flows are derived
from nslab.probe.flow import check_port


@dataclass(frozen=True)
class Endpoint:
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


def _place(name: str, ns: str | None, addresses: Iterable[IPAddress]) -> Endpoint:
    seen = list(dict.fromkeys(str(a) for a in addresses))
    v4 = next((a for a in seen if ":" not in a), None)
    v6 = next((a for a in seen if ":" in a), None)
    return Endpoint(name, ns, v4, v6, tuple(a for a in seen if a not in (v4, v6)))


def _uplink(lab: Lab) -> list[IPAddress]:
    up = lab.upstream
    return [a.ip for a in (up.host_address, up.host_address6) if a is not None]


def places(lab: Lab) -> list[Endpoint]:
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
        for c in h.docker.containers if h.docker else ():  # a place of its own, in its own namespace
            out.append(_place(c.name, c.name, [c.address] if c.address else []))
    host: list[IPAddress] = [
        a.ip for n in lab.networks for a in (n.host, n.gateway, n.host6) if a is not None
    ]
    if host:
        out.append(_place(HOST, None, host + (uplink if up.via is None else [])))
    if lab.internet:
        out.append(Endpoint(INTERNET, up.namespace, str(up.server), str(up.server6) if up.server6 else None))
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


# --- the ports a ruleset matches on ----------------------------------------------------------


def ports_in_text(text: str, kind: str) -> list[tuple[str, int]]:
    """(protocol, port) for every destination port a ruleset file's rules match on, sorted,
    as its kind reads them (nslab.firewall: a kind that knows no syntax finds none)."""
    return get_kind(kind).ports(text)


def lab_ports(lab: Lab, extra: Iterable[tuple[str, int]] = ()) -> list[tuple[str, int]]:
    """Every (protocol, port) of the lab's ruleset files, its [explore] table and `extra`."""
    found = set(extra) | set(lab.explore_ports)
    for h in lab.hosts:
        # Docker's published ports: the host's (to the container) and the container's own
        found.update(
            (p.proto, n)
            for c in (h.docker.containers if h.docker else ())
            for p in c.publish
            for n in (p.host_port, p.port)
        )
        for r in h.rulesets:
            for path in with_included(r.kind, r.path):  # and the files an nft file includes
                found.update(ports_in_text(path.read_text(encoding="utf-8", errors="replace"), r.kind))
    return sorted(found)


def unread_ports(lab: Lab) -> list[str]:
    """The ruleset files whose kind reads no ports (nslab.firewall: Kind.knows_ports), each
    as a line saying what explore could not know of them."""
    return [
        f"{h.name}'s {r.path.name} ({r.kind}): nslab reads no ports in this kind of file, so "
        "the flows its rules decide were probed with ICMP and the ports of [explore] ports or --ports only"
        for h in lab.hosts
        for r in h.rulesets
        if not get_kind(r.kind).knows_ports()
    ]


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
