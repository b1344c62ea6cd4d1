"""The lab model: one shape for every lab, whichever notation its file is written in.

A lab is data (as in Mininet): networks (bridges on the lab's host, the world's root
namespace), hosts (network namespaces with a veth leg per interface), the lab host's own
firewall chain where the lab gives it one, and the simulated internet. Building it is the
provision stages' job, using it the steps'. Each stage builds only what the lab declares
(`Lab.declares`), so the seed's one-bridge story and a routed dual-stack lab are the same
model with different data.

>>> from nslab.lab import default_lab
>>> lab = default_lab()
>>> lab.namespace("red").interfaces[0].address
IPv4Interface('10.16.0.2/24')
>>> sorted(lab.declares)
['dns', 'firewall', 'gateway', 'networks', 'sysctl', 'upstream']
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, TypeVar

from nslab.errors import LabError
from nslab.lab.checks import IPAddress, routable
from nslab.lab.managers import Manager

if TYPE_CHECKING:
    from nslab.lab.docker import DockerSpec

BACKENDS = ("nft", "legacy", "nftables")  # iptables-nft, iptables-legacy, native nft
# the kinds of ruleset file a host may have, by name, in the order the rulesets stage loads
# them, with the netfilter front end each one's rules load into ("": whichever its tools
# use): nslab.firewall.KINDS's names and `front` (tests/unit/test_kinds.py holds them equal),
# kept here as data because a lab file is read without the firewall package
RULESET_FRONTS = {"iptables": "xtables", "ip6tables": "xtables", "nft": "nft", "script": ""}
RULESET_KINDS = tuple(RULESET_FRONTS)


@dataclass(frozen=True)
class Network:
    """A bridge on the lab's host, with an IPv4 and/or IPv6 subnet. The host joins it with
    `host`/`host6` (from the start), or as its `gateway`: the address comes with the
    gateway stage, with a default route through it for every host on the network."""

    name: str
    bridge: str
    subnet: ipaddress.IPv4Network | None = None
    subnet6: ipaddress.IPv6Network | None = None
    host: ipaddress.IPv4Interface | None = None
    host6: ipaddress.IPv6Interface | None = None
    gateway: ipaddress.IPv4Interface | None = None


@dataclass(frozen=True)
class Interface:
    name: str  # inside the host's namespace
    peer: str  # the leg on the network's bridge
    network: str
    address: ipaddress.IPv4Interface | None = None
    address6: ipaddress.IPv6Interface | None = None
    mtu: int | None = None  # both legs; None: the kernel's 1500
    # more addresses on the same interface, either family (a secondary address, a VIP)
    extra: tuple[ipaddress.IPv4Interface | ipaddress.IPv6Interface, ...] = ()


@dataclass(frozen=True)
class Route:
    """A static route: `10.2.0.0/24 via 10.1.0.254`, `default via 2001:db8:1::1`."""

    dst: str  # "default" or a network
    via: IPAddress

    @property
    def v6(self) -> bool:
        return self.via.version == 6

    def text(self) -> str:
        return f"{self.dst} via {self.via}"


@dataclass(frozen=True)
class RulesetFile:
    kind: str  # iptables, ip6tables, nft, script
    path: Path


@dataclass(frozen=True)
class Host:
    """A lab host: a network namespace; `router = true` forwards IPv4 and IPv6."""

    name: str
    interfaces: tuple[Interface, ...]
    router: bool = False
    routes: tuple[Route, ...] = ()
    rulesets: tuple[RulesetFile, ...] = ()
    sysctls: tuple[tuple[str, str], ...] = ()  # the host's own (net.*), after its links exist
    manager: Manager | None = None  # ufw or firewalld, run for real (nslab.managers)
    docker: DockerSpec | None = None  # dockerd on this host, and its containers (nslab.managers.docker)

    def addresses(self, v6: bool = False) -> list[IPAddress]:
        out: list[IPAddress] = []
        for i in self.interfaces:
            a = i.address6 if v6 else i.address
            if a is not None:
                out.append(a.ip)
        return out


@dataclass(frozen=True)
class HostFirewall:
    """The lab host's own chain (the seed story's): the FORWARD policy, a custom chain
    jumped to first that lets the gateway network talk to itself and out, and NAT."""

    chain: str = "NAVY"
    policy: str = "DROP"


@dataclass(frozen=True)
class Upstream:
    """The simulated internet: an `isp` namespace on documentation ranges, never a real
    address, hanging off one lab host (`via`) or the lab's host; IPv6 where the lab has it."""

    namespace: str = "isp"
    uplink: str = "uplink0"  # the lab side of the uplink veth
    peer: str = "wan0"  # isp side
    host_address: ipaddress.IPv4Interface = ipaddress.IPv4Interface("198.51.100.1/24")
    isp_address: ipaddress.IPv4Interface = ipaddress.IPv4Interface("198.51.100.2/24")
    server: ipaddress.IPv4Address = ipaddress.IPv4Address("203.0.113.10")
    dns: ipaddress.IPv4Address = ipaddress.IPv4Address("203.0.113.53")
    domain: str = "example.test"
    via: str | None = None  # the host it hangs off; None: the lab's host
    host_address6: ipaddress.IPv6Interface | None = None
    isp_address6: ipaddress.IPv6Interface | None = None
    server6: ipaddress.IPv6Address | None = None
    dns6: ipaddress.IPv6Address | None = None


# The IPv6 side of the upstream of a lab that has IPv6 and names none of its own.
UPSTREAM6 = {
    "host_address6": ipaddress.IPv6Interface("2001:db8:f::1/64"),
    "isp_address6": ipaddress.IPv6Interface("2001:db8:f::2/64"),
    "server6": ipaddress.IPv6Address("2001:db8:ff::10"),
    "dns6": ipaddress.IPv6Address("2001:db8:ff::53"),
}


class _HasName(Protocol):
    @property
    def name(self) -> str: ...


Named = TypeVar("Named", bound=_HasName)


@dataclass(frozen=True)
class Lab:
    """A whole lab. `base_stages` is what "Given the lab" builds: its links and routes."""

    name: str
    networks: tuple[Network, ...]
    hosts: tuple[Host, ...]
    upstream: Upstream = Upstream()
    backend: str = "nft"
    firewall: HostFirewall | None = None
    explore_ports: tuple[tuple[str, int], ...] = ()  # [explore] ports: more for nslab explore
    # the lab's host's own (the world's root namespace): [firewall] nft = FILE ..., and
    # [lab] sysctls (net.bridge.* for a bridge-family ruleset, as br_netfilter.sh's)
    host_rulesets: tuple[RulesetFile, ...] = ()
    host_sysctls: tuple[tuple[str, str], ...] = ()
    # the simulated internet: False for a lab file of networks and hosts without [upstream]
    # (no upstream stage, no "the internet" anywhere, its ranges free for the lab)
    internet: bool = True

    # --- what the lab declares, for the stages --------------------------------------------

    @property
    def declares(self) -> frozenset[str]:
        """The parts this lab has, by the name of the stage that builds each: a stage whose
        `# when:` line names a part the lab lacks has nothing to build for it."""
        parts = {"sysctl", "networks"} | ({"upstream", "dns"} if self.internet else set())
        if any(h.routes for h in self.hosts):
            parts.add("routes")
        if self.host_rulesets or any(h.rulesets for h in self.hosts):
            parts.add("rulesets")
        if any(h.manager for h in self.hosts):
            parts.add("managers")
        if self.gateway_network is not None:
            parts.add("gateway")
        if self.firewall is not None:
            parts.add("firewall")
        return frozenset(parts)

    @property
    def base_stages(self) -> tuple[str, ...]:
        return tuple(s for s in ("networks", "routes") if s in self.declares)

    @property
    def v6(self) -> bool:
        """Whether the lab has IPv6 anywhere (its upstream then has IPv6 too)."""
        return any(n.subnet6 is not None for n in self.networks)

    @property
    def public_prefixes(self) -> list[str]:
        """The lab's networks the simulated internet routes to through the uplink, as the
        real one does: global IPv6 and public IPv4 prefixes, never a private range."""
        nets = [n for net in self.networks for n in (net.subnet, net.subnet6) if n is not None]
        return [str(n) for n in nets if routable(n.network_address)]

    @property
    def gateway_network(self) -> Network | None:
        """The network whose gateway is the lab's host (the seed's bridge), if any."""
        return next((n for n in self.networks if n.gateway is not None), None)

    # --- names and places -------------------------------------------------------------------

    @property
    def namespace_names(self) -> list[str]:
        return [h.name for h in self.hosts]

    def summary(self) -> str:
        nets = ", ".join(
            f"{n.name} {n.bridge} ({', '.join(str(s) for s in (n.subnet, n.subnet6) if s)})"
            for n in self.networks
        )
        routers = [h.name for h in self.hosts if h.router]
        fw = f"; host chain {self.firewall.chain}" if self.firewall else ""
        docker = [
            f"{h.name} ({', '.join(c.name for c in h.docker.containers) or 'no containers'})"
            for h in self.hosts
            if h.docker
        ]
        return (
            f"hosts {', '.join(self.namespace_names)}; networks {nets}"
            + (f"; routers {', '.join(routers)}" if routers else "")
            + fw
            + (f"; Docker on {', '.join(docker)}" if docker else "")
        )

    def namespace(self, name: str) -> Host:
        """The host called `name`, or an error listing the valid names."""
        return member(self.name, "host", self.hosts, name, self.upstream.namespace)

    def network(self, name: str) -> Network:
        for net in self.networks:
            if net.name == name:
                return net
        raise LabError(f"unknown network '{name}'", "use one of: " + ", ".join(n.name for n in self.networks))

    def interface_on(self, host: Host, network: Network) -> Interface:
        """`host`'s interface on `network` (the seed's steps: the leg on the gateway's bridge)."""
        for i in host.interfaces:
            if i.network == network.name:
                return i
        raise LabError(
            f"{host.name} has no interface on network {network.name}",
            "give it one in the lab file, or name a host on that network",
        )

    def attachments(self) -> list[tuple[Host, Interface, Network]]:
        return [(h, i, self.network(i.network)) for h in self.hosts for i in h.interfaces]

    def known_places(self, v6: bool = False) -> dict[str, IPAddress]:
        """Every name a step may use as a destination, with its address in one family."""
        up = self.upstream
        places: dict[str, IPAddress] = {}
        for host in self.hosts:
            found = host.addresses(v6)
            if found:
                places[host.name] = found[0]
        for c in (c for h in self.hosts if h.docker for c in h.docker.containers):
            if c.address is not None and not v6:  # on its host's docker0 (nslab.lab.docker)
                places[c.name] = c.address
        gw = self.gateway_network
        if gw is not None and gw.gateway is not None and not v6:
            places["the gateway"] = gw.gateway.ip
        for name, v4_value, v6_value in (
            ("the internet", up.server, up.server6),
            ("the isp", up.isp_address.ip, up.isp_address6.ip if up.isp_address6 else None),
            ("the uplink", up.host_address.ip, up.host_address6.ip if up.host_address6 else None),
            ("the resolver", up.dns, up.dns6),  # the simulated DNS server, on the internet
        ):
            if not self.internet:
                break
            value = v6_value if v6 else v4_value
            if value is not None:
                places[name] = value
        return places

    def resolve(self, where: str, v6: bool = False) -> IPAddress:
        """An address for a step's destination: a host, a named place or a lab address."""

        def in_lab(addr: IPAddress) -> bool:
            subnets = [n.subnet6 if addr.version == 6 else n.subnet for n in self.networks]
            return any(s is not None and addr in s for s in subnets)

        if v6 and not self.v6:
            raise LabError(
                f"lab '{self.name}' has no IPv6 addresses",
                "probe over IPv4, or give the lab's networks subnet6 (see labs/dmz.toml)",
            )
        family = f" (over {'IPv6' if v6 else 'IPv4'})" if self.v6 else ""
        host = next((h for h in self.hosts if h.name == where), None)
        if host is not None and not host.addresses(v6):
            other = "IPv4" if v6 else "IPv6"
            raise LabError(
                f"{where} has no {'IPv6' if v6 else 'IPv4'} address in lab '{self.name}'",
                f"probe it over {other}, or give it {'address6' if v6 else 'address'} in the lab file",
            )
        return destination(self.name, where, self.known_places(v6), ipaddress.ip_address, in_lab, family)


def member(lab: str, word: str, members: Sequence[Named], name: str, upstream: str) -> Named:
    """The lab's `word` (host) called `name`, or one line listing the valid names (the
    upstream's namespace is named as such: steps call it 'the internet')."""
    for m in members:
        if m.name == name:
            return m
    names = ", ".join(m.name for m in members)
    if name == upstream:
        raise LabError(
            f"'{name}' is the simulated upstream, not a lab {word}",
            f"say 'the internet' in steps, or use one of: {names}",
        )
    raise LabError(f"unknown {word} '{name}' in lab '{lab}'", f"use one of: {names}")


def destination(
    lab: str,
    where: str,
    places: Mapping[str, IPAddress],
    parse: Callable[[str], IPAddress],
    in_lab: Callable[[IPAddress], bool],
    family: str = "",
) -> IPAddress:
    """A step's destination: a named place, or an address of the lab or its upstream; never
    an address outside (scenarios only reach what the lab built). `family`: " (over IPv6)"."""
    if where in places:
        return places[where]
    try:
        addr = parse(where)
    except ValueError:
        raise LabError(
            f"unknown destination '{where}'{family}",
            "use one of: " + ", ".join(places) + ", or an address inside the lab",
        ) from None
    if addr not in places.values() and not in_lab(addr):
        raise LabError(
            f"address {addr} is not part of lab '{lab}'; scenarios only reach "
            "addresses inside the lab or its simulated upstream",
            "use one of: " + ", ".join(f"{k} ({v})" for k, v in places.items()),
        )
    return addr
