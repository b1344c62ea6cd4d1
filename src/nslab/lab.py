"""The lab model: what a lab is made of, loaded from TOML and validated before anything runs.

A lab is data (as in Mininet): building it is the provision stages' job, using it the
steps'. Every check here exists so that a bad lab file fails with one line naming the
field, instead of half-building a topology and failing inside `ip` or `iptables`.

>>> lab = default_lab()
>>> lab.namespace("red").address
IPv4Interface('10.16.0.2/24')
"""

from __future__ import annotations

import functools
import ipaddress
import re
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, TypeVar

from nslab.errors import LabError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.10 only
    import tomli as tomllib

IFNAMSIZ = 15  # the kernel's limit for interface names, in bytes, without the NUL
NAME_RE = re.compile(r"[a-z][a-z0-9-]*\Z")
IFNAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*\Z")
CHAIN_RE = re.compile(r"[A-Za-z][A-Za-z0-9_-]*\Z")
CHAIN_MAX = 28  # iptables chain names: 29 bytes including the NUL
BUILTIN_CHAINS = {"INPUT", "OUTPUT", "FORWARD", "PREROUTING", "POSTROUTING"}
POLICIES = ("ACCEPT", "DROP")
SEED_LAB = Path(__file__).with_name("labs") / "seed.toml"


@dataclass(frozen=True)
class Namespace:
    """A lab host: a network namespace with one veth leg on the bridge."""

    name: str
    interface: str  # the leg inside the namespace, e.g. veth1-red
    peer: str  # the leg on the host's bridge, e.g. veth0-red
    address: ipaddress.IPv4Interface


@dataclass(frozen=True)
class Bridge:
    """The host's bridge; its address is the lab's gateway."""

    name: str
    gateway: ipaddress.IPv4Interface


@dataclass(frozen=True)
class Firewall:
    """The FORWARD policy and the custom chain the seed story builds."""

    chain: str = "NAVY"
    policy: str = "DROP"


@dataclass(frozen=True)
class Upstream:
    """The simulated internet: an `isp` namespace on TEST-NET ranges, never a real address."""

    namespace: str = "isp"
    uplink: str = "uplink0"  # host side of the uplink veth
    peer: str = "wan0"  # isp side
    host_address: ipaddress.IPv4Interface = ipaddress.IPv4Interface("198.51.100.1/24")
    isp_address: ipaddress.IPv4Interface = ipaddress.IPv4Interface("198.51.100.2/24")
    server: ipaddress.IPv4Address = ipaddress.IPv4Address("203.0.113.10")
    dns: ipaddress.IPv4Address = ipaddress.IPv4Address("203.0.113.53")
    domain: str = "example.test"


@dataclass(frozen=True)
class Lab:
    """A whole lab: namespaces on a bridge, a gateway, a firewall chain, an upstream."""

    name: str
    subnet: ipaddress.IPv4Network
    bridge: Bridge
    namespaces: tuple[Namespace, ...]
    firewall: Firewall = field(default_factory=Firewall)
    upstream: Upstream = field(default_factory=Upstream)
    kind: str = "seed"  # the one-bridge story of the seed; nslab.routed has "routed"
    base_stages: tuple[str, ...] = ("topology",)  # what "Given the lab" builds

    def summary(self) -> str:
        return f"{', '.join(self.namespace_names)} on {self.bridge.name}, {self.subnet}"

    @property
    def firewall_places(self) -> tuple[str, ...]:
        """Where the lab's rules live, for "which rule decided": the seed filters on its host."""
        return ("host:iptables4",)

    @property
    def namespace_names(self) -> list[str]:
        return [ns.name for ns in self.namespaces]

    def namespace(self, name: str) -> Namespace:
        """The namespace called `name`, or an error listing the valid names."""
        return member(self.name, "namespace", self.namespaces, name, self.upstream.namespace)

    def known_places(self) -> dict[str, ipaddress.IPv4Address]:
        """Every name a step may use as a ping destination, with its address."""
        places = {ns.name: ns.address.ip for ns in self.namespaces}
        places["the gateway"] = self.bridge.gateway.ip
        places["the internet"] = self.upstream.server
        places["the isp"] = self.upstream.isp_address.ip
        places["the uplink"] = self.upstream.host_address.ip
        return places

    def resolve(self, where: str) -> ipaddress.IPv4Address:
        """An address for a step's destination: a namespace, a named place or a lab address."""
        return destination(  # type: ignore[return-value]
            self.name, where, self.known_places(), ipaddress.IPv4Address, lambda a: a in self.subnet
        )


class _HasName(Protocol):
    @property
    def name(self) -> str: ...


Named = TypeVar("Named", bound=_HasName)
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


def member(lab: str, word: str, members: Sequence[Named], name: str, upstream: str) -> Named:
    """The lab's `word` (namespace, host) called `name`, or one line listing the valid names
    (the upstream's namespace is named as such: steps call it 'the internet')."""
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


@functools.cache  # a frozen value, read once: steps ask for it per scenario
def default_lab() -> Lab:
    """The seed's lab (docs/seed-story.md): red and blue on br0, gateway 10.16.0.1, chain NAVY."""
    path = SEED_LAB if SEED_LAB.exists() else _repo_seed()
    return parse_lab(tomllib.loads(path.read_text(encoding="utf-8")))  # the seed's notation


def _repo_seed() -> Path:
    return Path(__file__).resolve().parents[2] / "labs" / "seed.toml"


def bundled_labs() -> Path:
    """The folder of the labs nslab ships (the wheel's, or this checkout's labs/)."""
    return (SEED_LAB if SEED_LAB.exists() else _repo_seed()).parent


# --- validation -------------------------------------------------------------------------


def _check_keys(where: str, table: Any, allowed: Iterable[str]) -> dict[str, Any]:
    if not isinstance(table, dict):
        raise LabError(f"{where}: expected a table, got {type(table).__name__}")
    allowed = set(allowed)
    unknown = sorted(set(table) - allowed)
    if unknown:
        raise LabError(
            f"{where}: unknown key '{unknown[0]}'", "valid keys are: " + ", ".join(sorted(allowed))
        )
    return table


def _str(where: str, value: Any) -> str:
    if not isinstance(value, str):
        raise LabError(f"{where}: expected a string, got {value!r}")
    return value


# Words the CLI and the steps give a meaning of their own: no namespace or host may be
# called so (a step saying "the internet" or "host" must mean one thing), in either notation.
RESERVED = ("host", "the", "internet", "gateway", "uplink", "isp", "all", "world")
DOC4 = (ipaddress.ip_network("198.51.100.0/24"), ipaddress.ip_network("203.0.113.0/24"))
DOC6 = ipaddress.ip_network("2001:db8::/32")


def check_unreserved(where: str, name: str, what: str) -> str:
    """A namespace's or host's name that is none of the words steps and the CLI reserve."""
    if name in RESERVED:
        raise LabError(
            f"{where}: '{name}' is a word nslab's steps and CLI reserve",
            f"rename the {what} (reserved: " + ", ".join(RESERVED) + ")",
        )
    return name


def check_documentation(where: str, ip: IPAddress) -> IPAddress:
    """An address of the simulated internet: documentation ranges only, never a real one."""
    if not (any(ip in n for n in DOC4) if ip.version == 4 else ip in DOC6):
        raise LabError(
            f"{where}: {ip} is not in a documentation range",
            "the simulated internet uses 198.51.100.0/24, 203.0.113.0/24 and 2001:db8::/32 only",
        )
    return ip


def check_name(where: str, value: Any) -> str:
    """Namespace and lab names: lowercase, so they are safe in paths, argv and env."""
    value = _str(where, value)
    if not NAME_RE.match(value):
        raise LabError(
            f"{where}: {value!r} is not a valid name",
            "use lowercase letters, digits and '-', starting with a letter (e.g. 'red')",
        )
    if len(value.encode()) > IFNAMSIZ:
        raise LabError(f"{where}: {value!r} is longer than {IFNAMSIZ} bytes", "use a shorter name")
    return value


def check_ifname(where: str, value: Any) -> str:
    """Interface names: the kernel's IFNAMSIZ limit and no characters a shell would act on."""
    value = _str(where, value)
    size = len(value.encode())
    if size > IFNAMSIZ:
        raise LabError(
            f"{where}: {value!r} is {size} bytes; Linux interface names are at most "
            f"{IFNAMSIZ} bytes (IFNAMSIZ)",
            f"set {where.rsplit('.', 1)[-1]} to a name of at most {IFNAMSIZ} bytes",
        )
    if not IFNAME_RE.match(value):
        raise LabError(
            f"{where}: {value!r} is not a valid interface name",
            "use letters, digits, '_', '.' and '-' only",
        )
    return value


def _chain(where: str, value: Any) -> str:
    value = _str(where, value)
    if not CHAIN_RE.match(value) or len(value) > CHAIN_MAX:
        raise LabError(
            f"{where}: {value!r} is not a valid iptables chain name",
            f"use letters, digits, '_' and '-', at most {CHAIN_MAX} characters (e.g. NAVY)",
        )
    if value.upper() in BUILTIN_CHAINS:
        raise LabError(f"{where}: {value!r} is a built-in chain", "choose a custom name like NAVY")
    return value


def _iface_addr(where: str, value: Any, subnet: ipaddress.IPv4Network | None) -> ipaddress.IPv4Interface:
    value = _str(where, value)
    if subnet is not None and "/" not in value:
        value = f"{value}/{subnet.prefixlen}"
    try:
        addr = ipaddress.IPv4Interface(value)
    except ValueError as exc:
        raise LabError(
            f"{where}: {value!r} is not an IPv4 address: {exc}", "write it like 10.16.0.2/24"
        ) from None
    if subnet is not None:
        if addr.ip not in subnet:
            raise LabError(
                f"{where}: {addr.ip} is outside the lab subnet {subnet}", f"pick an address in {subnet}"
            )
        if addr.network != subnet:
            raise LabError(
                f"{where}: prefix /{addr.network.prefixlen} differs from the lab subnet {subnet}",
                f"write it as {addr.ip}/{subnet.prefixlen}",
            )
    if addr.ip in (addr.network.network_address, addr.network.broadcast_address):
        raise LabError(
            f"{where}: {addr.ip} is the network or broadcast address of {addr.network}", "pick a host address"
        )
    return addr


def _addr(where: str, value: Any) -> ipaddress.IPv4Address:
    try:
        return ipaddress.IPv4Address(_str(where, value))
    except ValueError as exc:
        raise LabError(f"{where}: {value!r} is not an IPv4 address: {exc}") from None


def _subnet(where: str, value: Any) -> ipaddress.IPv4Network:
    try:
        return ipaddress.IPv4Network(_str(where, value))
    except ValueError as exc:
        raise LabError(f"{where}: {value!r} is not a subnet: {exc}", "write it like 10.16.0.0/24") from None


def _domain(where: str, value: Any) -> str:
    value = _str(where, value)
    if not re.fullmatch(r"[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*", value):
        raise LabError(f"{where}: {value!r} is not a valid domain name", "use something like example.test")
    return value


def _unique(what: str, items: Iterable[tuple[str, str]]) -> None:
    seen: dict[str, str] = {}
    for where, value in items:
        if value in seen:
            raise LabError(
                f"{where}: {what} {value!r} is already used by {seen[value]}", f"give each a distinct {what}"
            )
        seen[value] = where


def parse_lab(raw: dict[str, Any]) -> Lab:
    """Validate a lab read from TOML; see labs/seed.toml for the format."""
    _check_keys("lab file", raw, {"lab", "bridge", "firewall", "namespace", "upstream"})
    top = _check_keys("[lab]", raw.get("lab", {}), {"name", "subnet"})
    name = check_name("lab.name", top.get("name", "lab"))
    subnet = _subnet("lab.subnet", top.get("subnet", "10.16.0.0/24"))

    br = _check_keys("[bridge]", raw.get("bridge", {}), {"name", "gateway"})
    bridge = Bridge(
        name=check_ifname("bridge.name", br.get("name", "br0")),
        gateway=_iface_addr("bridge.gateway", br.get("gateway", str(next(subnet.hosts()))), subnet),
    )

    fw = _check_keys("[firewall]", raw.get("firewall", {}), {"chain", "policy"})
    policy = _str("firewall.policy", fw.get("policy", "DROP")).upper()
    if policy not in POLICIES:
        raise LabError(f"firewall.policy: {policy!r} is not a FORWARD policy", "use ACCEPT or DROP")
    firewall = Firewall(chain=_chain("firewall.chain", fw.get("chain", "NAVY")), policy=policy)

    entries = raw.get("namespace", [])
    if not isinstance(entries, list) or not entries:
        raise LabError(
            "namespace: a lab needs at least one [[namespace]] table", 'add one, e.g. name = "red"'
        )
    namespaces = []
    for i, entry in enumerate(entries):
        where = f"namespace[{i}]"
        entry = _check_keys(where, entry, {"name", "interface", "peer", "address"})
        if "name" not in entry:
            raise LabError(f"{where}.name: missing", "every [[namespace]] needs a name")
        ns_name = check_unreserved(f"{where}.name", check_name(f"{where}.name", entry["name"]), "namespace")
        if "address" not in entry:
            raise LabError(f"{where}.address: missing", f"give {ns_name} an address in {subnet}")
        namespaces.append(
            Namespace(
                name=ns_name,
                interface=check_ifname(f"{where}.interface", entry.get("interface", f"veth1-{ns_name}")),
                peer=check_ifname(f"{where}.peer", entry.get("peer", f"veth0-{ns_name}")),
                address=_iface_addr(f"{where}.address", entry["address"], subnet),
            )
        )

    up = _check_keys("[upstream]", raw.get("upstream", {}), set(Upstream.__dataclass_fields__))
    defaults = Upstream()
    upstream = Upstream(
        namespace=check_name("upstream.namespace", up.get("namespace", defaults.namespace)),
        uplink=check_ifname("upstream.uplink", up.get("uplink", defaults.uplink)),
        peer=check_ifname("upstream.peer", up.get("peer", defaults.peer)),
        host_address=_iface_addr(
            "upstream.host_address", up.get("host_address", str(defaults.host_address)), None
        ),
        isp_address=_iface_addr(
            "upstream.isp_address", up.get("isp_address", str(defaults.isp_address)), None
        ),
        server=_addr("upstream.server", up.get("server", str(defaults.server))),
        dns=_addr("upstream.dns", up.get("dns", str(defaults.dns))),
        domain=_domain("upstream.domain", up.get("domain", defaults.domain)),
    )
    if upstream.host_address.network != upstream.isp_address.network:
        raise LabError(
            "upstream.isp_address: not in the same subnet as upstream.host_address",
            f"pick an address in {upstream.host_address.network}",
        )
    for where, net in (
        ("upstream.host_address", upstream.host_address.network),
        ("upstream.server", ipaddress.IPv4Network(upstream.server)),
        ("upstream.dns", ipaddress.IPv4Network(upstream.dns)),
    ):
        if net.overlaps(subnet):
            raise LabError(
                f"{where}: {net} overlaps the lab subnet {subnet}",
                "the upstream must be outside the lab, or NAT has nothing to do",
            )
    for where, ip in (
        ("upstream.host_address", upstream.host_address.ip),
        ("upstream.isp_address", upstream.isp_address.ip),
        ("upstream.server", upstream.server),
        ("upstream.dns", upstream.dns),
    ):
        check_documentation(where, ip)

    _unique(
        "name",
        [(f"namespace[{i}].name", ns.name) for i, ns in enumerate(namespaces)]
        + [("upstream.namespace", upstream.namespace)],
    )
    # veth pairs are created on the host before a leg moves, so every name must be unique.
    _unique(
        "interface name",
        [("bridge.name", bridge.name), ("upstream.uplink", upstream.uplink), ("upstream.peer", upstream.peer)]
        + [(f"namespace[{i}].interface", ns.interface) for i, ns in enumerate(namespaces)]
        + [(f"namespace[{i}].peer", ns.peer) for i, ns in enumerate(namespaces)],
    )
    _unique(
        "address",
        [("bridge.gateway", str(bridge.gateway.ip))]
        + [(f"namespace[{i}].address", str(ns.address.ip)) for i, ns in enumerate(namespaces)],
    )
    return Lab(
        name=name,
        subnet=subnet,
        bridge=bridge,
        namespaces=tuple(namespaces),
        firewall=firewall,
        upstream=upstream,
    )
