"""Routed labs (lab file v2): several networks, hosts with interfaces on them, routers,
static routes, IPv4 and IPv6, and the user's own firewall rulesets.

A lab file with `[[network]]` and `[[host]]` tables is a routed lab; one in the seed's
shape (`[lab] subnet`, `[bridge]`, `[[namespace]]`) stays the one-bridge lab of nslab.lab.
Each table is parsed by a function of its own, and every check happens before anything
runs: a bad file is one LabError naming the file, the field and the fix.

Networks are bridges on the lab's host (the world's root namespace); a host is a network
namespace with one veth leg per interface, the other leg on the network's bridge. The
simulated internet hangs off one host (`[upstream] via = "edge"`) or the lab's host.

>>> lab = load_routed_file(Path(__file__).with_name("labs") / "dmz.toml")  # doctest: +SKIP
>>> [h.name for h in lab.hosts]                                              # doctest: +SKIP
['edge', 'pc', 'web', 'db']
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nslab.errors import LabError
from nslab.lab import (
    IFNAMSIZ,
    IPAddress,
    Lab,
    _check_keys,
    _domain,
    _str,
    _unique,
    check_documentation,
    check_ifname,
    check_name,
    check_unreserved,
    destination,
    member,
)
from nslab.lab import Upstream as SeedUpstream

BACKENDS = ("nft", "legacy", "nftables")  # iptables-nft, iptables-legacy, native nft
RULESET_KINDS = ("iptables", "ip6tables", "nft", "script")


@dataclass(frozen=True)
class Network:
    """A bridge on the lab's host, with an IPv4 and/or IPv6 subnet; the host joins it only
    when it has an address there."""

    name: str
    bridge: str
    subnet: ipaddress.IPv4Network | None = None
    subnet6: ipaddress.IPv6Network | None = None
    host: ipaddress.IPv4Interface | None = None
    host6: ipaddress.IPv6Interface | None = None


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

    def addresses(self, v6: bool = False) -> list[IPAddress]:
        out: list[IPAddress] = []
        for i in self.interfaces:
            a = i.address6 if v6 else i.address
            if a is not None:
                out.append(a.ip)
        return out


@dataclass(frozen=True)
class Upstream(SeedUpstream):
    """The seed's simulated internet made dual-stack (documentation ranges only), hanging
    off one lab host (`via`) or the lab's host."""

    via: str | None = None  # the host it hangs off; None: the lab's host
    host_address6: ipaddress.IPv6Interface = ipaddress.IPv6Interface("2001:db8:f::1/64")
    isp_address6: ipaddress.IPv6Interface = ipaddress.IPv6Interface("2001:db8:f::2/64")
    server6: ipaddress.IPv6Address = ipaddress.IPv6Address("2001:db8:ff::10")
    dns6: ipaddress.IPv6Address = ipaddress.IPv6Address("2001:db8:ff::53")


@dataclass(frozen=True)
class RoutedLab:
    name: str
    networks: tuple[Network, ...]
    hosts: tuple[Host, ...]
    upstream: Upstream = field(default_factory=Upstream)
    backend: str = "nft"
    kind: str = "routed"
    base_stages: tuple[str, ...] = ("sysctl", "networks", "routes")  # what "Given the lab" builds

    @property
    def namespace_names(self) -> list[str]:
        return [h.name for h in self.hosts]

    def summary(self) -> str:
        nets = ", ".join(
            f"{n.name} ({', '.join(str(s) for s in (n.subnet, n.subnet6) if s)})" for n in self.networks
        )
        routers = [h.name for h in self.hosts if h.router]
        return f"routed: hosts {', '.join(self.namespace_names)}; networks {nets}" + (
            f"; routers {', '.join(routers)}" if routers else ""
        )

    def namespace(self, name: str) -> Host:
        return member(self.name, "host", self.hosts, name, self.upstream.namespace)

    def network(self, name: str) -> Network:
        for net in self.networks:
            if net.name == name:
                return net
        raise LabError(f"unknown network '{name}'", "use one of: " + ", ".join(n.name for n in self.networks))

    @property
    def firewall_places(self) -> tuple[str, ...]:
        """Where the lab's rules live, as PLACE:TOOL: the lab's host (bridged traffic) and
        every host with a ruleset or routing, read with the tool of its rules (an nft file:
        nft; else the lab's backend)."""
        backend = {"nftables": "nft", "legacy": "legacy"}.get(self.backend, "iptables")

        def tool(h: Host) -> str:
            return "nft" if any(r.kind == "nft" for r in h.rulesets) else backend

        return ("host:iptables", *(f"{h.name}:{tool(h)}" for h in self.hosts if h.rulesets or h.router))

    def known_places(self, v6: bool = False) -> dict[str, IPAddress]:
        up = self.upstream
        places: dict[str, IPAddress] = {}
        for host in self.hosts:
            found = host.addresses(v6)
            if found:
                places[host.name] = found[0]
        places["the internet"] = up.server6 if v6 else up.server
        places["the isp"] = up.isp_address6.ip if v6 else up.isp_address.ip
        places["the uplink"] = up.host_address6.ip if v6 else up.host_address.ip
        return places

    def resolve(self, where: str, v6: bool = False) -> IPAddress:
        def in_lab(addr: IPAddress) -> bool:
            subnets = [n.subnet6 if addr.version == 6 else n.subnet for n in self.networks]
            return any(s is not None and addr in s for s in subnets)

        family = f" (over {'IPv6' if v6 else 'IPv4'})"
        host = next((h for h in self.hosts if h.name == where), None)
        if host is not None and not host.addresses(v6):
            other = "IPv4" if v6 else "IPv6"
            raise LabError(
                f"{where} has no {'IPv6' if v6 else 'IPv4'} address in lab '{self.name}'",
                f"probe it over {other}, or give it {'address6' if v6 else 'address'} in the lab file",
            )
        return destination(self.name, where, self.known_places(v6), ipaddress.ip_address, in_lab, family)

    def attachments(self) -> list[tuple[Host, Interface, Network]]:
        return [(h, i, self.network(i.network)) for h in self.hosts for i in h.interfaces]


# --- parsing, one table at a time ---------------------------------------------------------


AnyLab = Lab | RoutedLab  # what a lab file loads into, in either notation


def is_routed(raw: dict[str, Any]) -> bool:
    return "network" in raw or "host" in raw


def load_routed(raw: dict[str, Any], base: Path) -> RoutedLab:
    """Validate a v2 lab read from TOML; ruleset paths are relative to the lab file."""
    _check_keys("lab file", raw, {"lab", "network", "host", "upstream", "firewall"})
    name = _lab_table(raw.get("lab", {}))
    backend = _firewall_table(raw.get("firewall", {}))
    networks = _networks(raw.get("network", []))
    hosts = _hosts(raw.get("host", []), {n.name: n for n in networks}, base)
    upstream = _upstream(raw.get("upstream", {}), {h.name for h in hosts})
    lab = RoutedLab(name, tuple(networks), tuple(hosts), upstream, backend)
    _cross_checks(lab)
    return lab


def _lab_table(table: Any) -> str:
    top = _check_keys("[lab]", table, {"name"})
    return check_name("lab.name", top.get("name", "lab"))


def _firewall_table(table: Any) -> str:
    fw = _check_keys("[firewall]", table, {"backend"})
    backend = _str("firewall.backend", fw.get("backend", "nft"))
    if backend not in BACKENDS:
        raise LabError(
            f"firewall.backend: {backend!r} is not a firewall backend",
            "use nft (iptables-nft, the default), legacy (iptables-legacy) or nftables (native nft -f files)",
        )
    return backend


def _subnet(where: str, value: Any, version: int) -> Any:
    text = _str(where, value)
    try:
        net = ipaddress.ip_network(text)
    except ValueError as exc:
        example = "2001:db8:1::/64" if version == 6 else "10.1.0.0/24"
        raise LabError(f"{where}: {text!r} is not a subnet: {exc}", f"write it like {example}") from None
    if net.version != version:
        raise LabError(f"{where}: {text} is an IPv{net.version} subnet", f"give an IPv{version} subnet here")
    return net


def _address(where: str, value: Any, subnets: Iterable[Any], version: int) -> Any:
    """An interface address: in one of `subnets` of its version, prefix added when left out."""
    text = _str(where, value)
    nets = [s for s in subnets if s is not None and s.version == version]
    try:
        ip = ipaddress.ip_interface(text).ip if "/" in text else ipaddress.ip_address(text)
    except ValueError as exc:
        raise LabError(f"{where}: {text!r} is not an address: {exc}") from None
    if ip.version != version:
        raise LabError(f"{where}: {ip} is an IPv{ip.version} address", f"give an IPv{version} address here")
    home = next((n for n in nets if ip in n), None)
    if home is None:
        raise LabError(
            f"{where}: {ip} is in none of the network's subnets ({', '.join(map(str, nets)) or 'none'})",
            "pick an address in the network's subnet, or give the network that subnet",
        )
    iface = ipaddress.ip_interface(f"{ip}/{home.prefixlen}")
    if "/" in text and ipaddress.ip_interface(text).network.prefixlen != home.prefixlen:
        raise LabError(f"{where}: prefix of {text} differs from {home}", f"write it as {iface}")
    # a /31 (RFC 3021) or /32 has no network or broadcast address: both are hosts
    if version == 4 and home.prefixlen < 31 and ip in (home.network_address, home.broadcast_address):
        raise LabError(f"{where}: {ip} is the network or broadcast address of {home}", "pick a host address")
    return iface


def _extra(where: str, values: Any, net: Network) -> tuple[Any, ...]:
    """More addresses on an interface: each in the network's subnet of its family."""
    if not isinstance(values, list):
        raise LabError(f"{where}: expected a list", 'extra_addresses = ["10.1.0.11", "2001:db8:1::11"]')
    return tuple(
        _address(
            f"{where}[{k}]", v, [net.subnet6 if ":" in str(v) else net.subnet], 6 if ":" in str(v) else 4
        )
        for k, v in enumerate(values)
    )


def _mtu(where: str, value: Any, v6: bool) -> int:
    """An interface's MTU: 68 (IPv4's least) to 65535; 1280 at least where it has IPv6."""
    if not isinstance(value, int) or isinstance(value, bool):
        raise LabError(f"{where}: {value!r} is not a number of bytes", "e.g. mtu = 1400")
    low = 1280 if v6 else 68
    if not low <= value <= 65535:
        why = " (IPv6 needs 1280)" if v6 and value < 1280 else ""
        raise LabError(f"{where}: {value} is out of range{why}", f"use {low} to 65535")
    return value


def _named(entries: Any, table: str, keys: set[str], example: str) -> list[tuple[str, dict[str, Any], str]]:
    """The [[TABLE]] entries as (where, entry, name): at least one, known keys, named."""
    if not isinstance(entries, list) or not entries:
        raise LabError(
            f"{table}: a routed lab needs at least one [[{table}]]", f'add one, e.g. name = "{example}"'
        )
    out = []
    for i, entry in enumerate(entries):
        where = f"{table}[{i}]"
        entry = _check_keys(where, entry, keys)
        if "name" not in entry:
            raise LabError(f"{where}.name: missing", f"every [[{table}]] needs a name")
        out.append((where, entry, check_name(f"{where}.name", entry["name"])))
    return out


def _networks(entries: Any) -> list[Network]:
    out = []
    keys = {"name", "bridge", "subnet", "subnet6", "host", "host6"}
    for where, entry, name in _named(entries, "network", keys, "lan"):
        subnet = _subnet(f"{where}.subnet", entry["subnet"], 4) if "subnet" in entry else None
        subnet6 = _subnet(f"{where}.subnet6", entry["subnet6"], 6) if "subnet6" in entry else None
        if subnet is None and subnet6 is None:
            raise LabError(f"{where}: no subnet", "give it subnet (IPv4) and/or subnet6 (IPv6)")
        if subnet6 is not None and subnet6.prefixlen > 64:
            raise LabError(
                f"{where}.subnet6: /{subnet6.prefixlen} is longer than /64",
                "IPv6 LANs are /64 (SLAAC and neighbour discovery assume it)",
            )
        bridge = check_ifname(f"{where}.bridge", entry.get("bridge", f"br-{name}"))
        host = _address(f"{where}.host", entry["host"], [subnet], 4) if "host" in entry else None
        host6 = _address(f"{where}.host6", entry["host6"], [subnet6], 6) if "host6" in entry else None
        out.append(Network(name, bridge, subnet, subnet6, host, host6))
    _unique("name", [(f"network[{i}].name", n.name) for i, n in enumerate(out)])
    _unique("bridge name", [(f"network[{i}].bridge", n.bridge) for i, n in enumerate(out)])
    for i, a in enumerate(out):
        for j, b in enumerate(out[:i]):
            for mine, theirs in ((a.subnet, b.subnet), (a.subnet6, b.subnet6)):
                if mine is not None and theirs is not None and mine.overlaps(theirs):
                    raise LabError(
                        f"network[{i}]: {mine} overlaps {theirs} of network[{j}] ({b.name})",
                        "give every network a subnet of its own",
                    )
    return out


def _route(where: str, value: Any) -> Route:
    words = _str(where, value).split()
    if len(words) != 3 or words[1] != "via":
        raise LabError(
            f"{where}: {value!r} is not a route",
            'write it like "10.2.0.0/24 via 10.1.0.254" or "default via 10.1.0.1"',
        )
    try:
        via = ipaddress.ip_address(words[2])
    except ValueError:
        raise LabError(f"{where}: {words[2]!r} is not an address") from None
    dst = words[0]
    if dst != "default":
        try:
            net = ipaddress.ip_network(dst)
        except ValueError as exc:
            raise LabError(f"{where}: {dst!r} is not a network: {exc}", "write it like 10.2.0.0/24") from None
        if net.version != via.version:
            raise LabError(f"{where}: {dst} is IPv{net.version} but {via} is IPv{via.version}")
        dst = str(net)
    return Route(dst, via)


def _rulesets(where: str, table: Any, base: Path) -> tuple[RulesetFile, ...]:
    fw = _check_keys(where, table, RULESET_KINDS)
    out = []
    for kind in RULESET_KINDS:
        if kind in fw:
            path = (base / _str(f"{where}.{kind}", fw[kind])).resolve()
            if not path.is_file():
                raise LabError(
                    f"{where}.{kind}: {path} does not exist",
                    "put the file next to the lab file, or fix the path",
                )
            out.append(RulesetFile(kind, path))
    if any(r.kind == "nft" for r in out) and any(r.kind in ("iptables", "ip6tables") for r in out):
        raise LabError(
            f"{where}: both an nft file and iptables files: rules in two backends in one namespace "
            "silently do nothing for each other",
            "give each host rules in one backend",
        )
    return tuple(out)


def _interfaces(where: str, raw_ifaces: Any, host: str, networks: dict[str, Network]) -> list[Interface]:
    if not isinstance(raw_ifaces, list) or not raw_ifaces:
        raise LabError(f"{where}.interfaces: missing", '{ network = "lan", address = "10.1.0.10" }')
    interfaces = []
    for j, raw in enumerate(raw_ifaces):
        iw = f"{where}.interfaces[{j}]"
        raw = _check_keys(
            iw, raw, {"network", "address", "address6", "name", "peer", "mtu", "extra_addresses"}
        )
        if "network" not in raw:
            raise LabError(f"{iw}.network: missing", "name the network this interface is on")
        net_name = _str(f"{iw}.network", raw["network"])
        if net_name not in networks:
            raise LabError(
                f"{iw}.network: unknown network '{net_name}'", "use one of: " + ", ".join(networks)
            )
        net = networks[net_name]
        address = _address(f"{iw}.address", raw["address"], [net.subnet], 4) if "address" in raw else None
        address6 = (
            _address(f"{iw}.address6", raw["address6"], [net.subnet6], 6) if "address6" in raw else None
        )
        if address is None and address6 is None:
            raise LabError(f"{iw}: no address", "give it address and/or address6")
        peer = raw.get("peer", f"v-{host}-{j}")
        if len(str(peer).encode()) > IFNAMSIZ and "peer" not in raw:
            raise LabError(
                f"{iw}.peer: the default name {peer!r} is over {IFNAMSIZ} bytes",
                f"set peer = a name of at most {IFNAMSIZ} bytes, or shorten the host name",
            )
        name = check_ifname(f"{iw}.name", raw.get("name", f"eth{j}"))
        mtu = _mtu(f"{iw}.mtu", raw["mtu"], address6 is not None) if "mtu" in raw else None
        extra = _extra(f"{iw}.extra_addresses", raw.get("extra_addresses", []), net)
        interfaces.append(
            Interface(name, check_ifname(f"{iw}.peer", peer), net_name, address, address6, mtu, extra)
        )
    _unique("interface name", [(f"{where}.interfaces[{j}].name", x.name) for j, x in enumerate(interfaces)])
    return interfaces


def _routes(where: str, raw: Any, host: str, interfaces: list[Interface]) -> tuple[Route, ...]:
    if not isinstance(raw, list):
        raise LabError(f"{where}.routes: expected a list of strings")
    routes = tuple(_route(f"{where}.routes[{j}]", r) for j, r in enumerate(raw))
    connected = [a.network for x in interfaces for a in (x.address, x.address6) if a is not None]
    for j, route in enumerate(routes):
        if not any(route.via in net for net in connected):
            raise LabError(
                f"{where}.routes[{j}]: {route.via} is on no network {host} is connected to",
                "route via an address on one of the host's own networks",
            )
    return routes


_SYSCTL_KEY = re.compile(r"net(\.[A-Za-z0-9_-]+)+")
_SYSCTL_VALUE = re.compile(r"[A-Za-z0-9._-]+")


def _sysctls(where: str, table: Any) -> tuple[tuple[str, str], ...]:
    """A host's sysctls: net.* keys only (a network namespace has its own; others are the
    machine's), plain values: { "net.ipv4.conf.all.rp_filter" = 1 }."""
    if not isinstance(table, dict):
        raise LabError(f"{where}: expected a table", '{ "net.ipv4.conf.all.rp_filter" = 1 }')
    out = []
    for key, value in table.items():
        if not _SYSCTL_KEY.fullmatch(key):
            raise LabError(
                f"{where}: {key!r} is not a network namespace's sysctl",
                "only net.* keys: each host is a network namespace; the rest is the machine's",
            )
        text = str(int(value)) if isinstance(value, bool) else str(value)
        if not _SYSCTL_VALUE.fullmatch(text):
            raise LabError(f"{where}.{key}: {value!r} is not a plain value", "a number or a word, e.g. 1")
        out.append((key, text))
    return tuple(out)


def _hosts(entries: Any, networks: dict[str, Network], base: Path) -> list[Host]:
    out = []
    keys = {"name", "interfaces", "router", "routes", "firewall", "sysctls"}
    for where, entry, name in _named(entries, "host", keys, "pc"):
        check_unreserved(f"{where}.name", name, "host")
        interfaces = _interfaces(where, entry.get("interfaces", []), name, networks)
        router = entry.get("router", False)
        if not isinstance(router, bool):
            raise LabError(f"{where}.router: expected true or false, got {router!r}")
        routes = _routes(where, entry.get("routes", []), name, interfaces)
        rulesets = _rulesets(f"{where}.firewall", entry["firewall"], base) if "firewall" in entry else ()
        sysctls = _sysctls(f"{where}.sysctls", entry.get("sysctls", {}))
        out.append(Host(name, tuple(interfaces), router, routes, rulesets, sysctls))
    _unique("name", [(f"host[{i}].name", h.name) for i, h in enumerate(out)])
    return out


def _upstream(table: Any, hosts: set[str]) -> Upstream:
    up = _check_keys("[upstream]", table, set(Upstream.__dataclass_fields__))
    d = Upstream()
    via = up.get("via")
    if via is not None and via not in hosts:
        raise LabError(f"upstream.via: unknown host '{via}'", "use one of: " + ", ".join(sorted(hosts)))

    def v4(key: str, cls: Any) -> Any:
        return _doc(f"upstream.{key}", up.get(key, str(getattr(d, key))), cls)

    return Upstream(
        via=via,
        namespace=check_name("upstream.namespace", up.get("namespace", d.namespace)),
        uplink=check_ifname("upstream.uplink", up.get("uplink", d.uplink)),
        peer=check_ifname("upstream.peer", up.get("peer", d.peer)),
        host_address=v4("host_address", ipaddress.IPv4Interface),
        isp_address=v4("isp_address", ipaddress.IPv4Interface),
        host_address6=v4("host_address6", ipaddress.IPv6Interface),
        isp_address6=v4("isp_address6", ipaddress.IPv6Interface),
        server=v4("server", ipaddress.IPv4Address),
        dns=v4("dns", ipaddress.IPv4Address),
        server6=v4("server6", ipaddress.IPv6Address),
        dns6=v4("dns6", ipaddress.IPv6Address),
        domain=_domain("upstream.domain", up.get("domain", d.domain)),
    )


def _doc(where: str, value: Any, cls: Any) -> Any:
    """An upstream address: documentation ranges only (the "internet" is simulated)."""
    text = _str(where, value)
    try:
        parsed = cls(text)
    except ValueError as exc:
        raise LabError(f"{where}: {text!r} is not valid: {exc}") from None
    check_documentation(where, getattr(parsed, "ip", parsed))
    return parsed


def _cross_checks(lab: RoutedLab) -> None:
    """What no single table can tell: duplicates across networks and hosts, names shared
    between hosts and the upstream, interface names on the lab's host."""
    addresses = []
    for n in lab.networks:
        for a in (n.host, n.host6):
            if a is not None:
                addresses.append((f"network {n.name}.host", str(a.ip)))
    for h in lab.hosts:
        for i in h.interfaces:
            for a in (i.address, i.address6, *i.extra):
                if a is not None:
                    addresses.append((f"host {h.name}.{i.name}", str(a.ip)))
    _unique("address", addresses)
    _unique(
        "name",
        [(f"host {h.name}", h.name) for h in lab.hosts] + [("upstream.namespace", lab.upstream.namespace)],
    )
    legs = [("upstream.uplink", lab.upstream.uplink), ("upstream.peer", lab.upstream.peer)]
    legs += [(f"network {n.name}.bridge", n.bridge) for n in lab.networks]
    legs += [(f"host {h.name}.{i.name}.peer", i.peer) for h in lab.hosts for i in h.interfaces]
    _unique("interface name", legs)
    up = lab.upstream
    outside = [
        up.host_address.network,
        up.host_address6.network,
        *(ipaddress.ip_network(a) for a in (up.server, up.dns, up.server6, up.dns6)),
    ]
    for n in lab.networks:
        for net in (n.subnet, n.subnet6):
            clash = next(
                (o for o in outside if net is not None and o.version == net.version and net.overlaps(o)), None
            )
            if clash is not None:
                raise LabError(
                    f"network {n.name}: {net} overlaps the simulated internet's {clash}",
                    "the upstream must be outside the lab, or routing and NAT have nothing to do",
                )
