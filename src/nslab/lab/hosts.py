"""A lab file's `[[network]]` and `[[host]]` tables: networks, hosts, their interfaces,
routes, ruleset files and sysctls (nslab.lab.tables reads the rest and checks the whole)."""

from __future__ import annotations

import ipaddress
import re
from pathlib import Path
from typing import Any

from nslab.errors import LabError
from nslab.lab.checks import (
    IFNAMSIZ,
    at,
    check_address,
    check_ifname,
    check_keys,
    check_mtu,
    check_name,
    check_str,
    check_subnet,
    check_unique,
    check_unreserved,
)
from nslab.lab.docker import read_docker
from nslab.lab.managers import read_manager
from nslab.lab.model import RULESET_FRONTS, RULESET_KINDS, Host, Interface, Network, Route, RulesetFile


def _named(entries: Any, table: str, keys: set[str], example: str) -> list[tuple[str, dict[str, Any], str]]:
    """The [[TABLE]] entries as (where, entry, name): at least one, known keys, named."""
    if not isinstance(entries, list) or not entries:
        raise LabError(f"{table}: a lab needs at least one [[{table}]]", f'add one, e.g. name = "{example}"')
    out = []
    for i, entry in enumerate(entries):
        where = at(table, i)
        entry = check_keys(where, entry, keys)
        if "name" not in entry:
            raise LabError(f"{where}.name: missing", f"every [[{table}]] needs a name")
        name = check_name(f"{where}.name", entry["name"])
        out.append((at(table, i, name), entry, name))  # named from here on, not counted
    return out


def network_tables(entries: Any) -> list[Network]:
    out = []
    keys = {"name", "bridge", "subnet", "subnet6", "host", "host6", "gateway"}
    for where, entry, name in _named(entries, "network", keys, "lan"):
        subnet = check_subnet(f"{where}.subnet", entry["subnet"], 4) if "subnet" in entry else None
        subnet6 = check_subnet(f"{where}.subnet6", entry["subnet6"], 6) if "subnet6" in entry else None
        if subnet is None and subnet6 is None:
            raise LabError(f"{where}: no subnet", "give it subnet (IPv4) and/or subnet6 (IPv6)")
        if subnet6 is not None and 64 < subnet6.prefixlen != 127:
            raise LabError(
                f"{where}.subnet6: /{subnet6.prefixlen} is longer than /64",
                "IPv6 LANs are /64 (SLAAC and neighbour discovery assume it); "
                "a point-to-point link between two routers may be a /127 (RFC 6164)",
            )
        if "gateway" in entry and "host" in entry:
            raise LabError(
                f"{where}: both host and gateway: the gateway is the lab host's address there",
                "give one: host (an address from the start) or gateway (and default routes through it)",
            )
        host, host6, gateway = (
            check_address(f"{where}.{key}", entry[key], [net], version) if key in entry else None
            for key, net, version in (("host", subnet, 4), ("host6", subnet6, 6), ("gateway", subnet, 4))
        )
        bridge = check_ifname(f"{where}.bridge", entry.get("bridge", f"br-{name}"))
        out.append(Network(name, bridge, subnet, subnet6, host, host6, gateway))
    check_unique("name", [(f"{at('network', i)}.name", n.name) for i, n in enumerate(out)])
    check_unique("bridge name", [(f"{at('network', i, n.name)}.bridge", n.bridge) for i, n in enumerate(out)])
    gateways = [n.name for n in out if n.gateway is not None]
    if len(gateways) > 1:
        raise LabError(
            f"network: {', '.join(gateways)} all have a gateway; the lab's host is the gateway of one",
            "give the others host = ADDRESS and route through a router host",
        )
    for i, a in enumerate(out):
        for j, b in enumerate(out[:i]):
            for mine, theirs in ((a.subnet, b.subnet), (a.subnet6, b.subnet6)):
                if mine is not None and theirs is not None and mine.overlaps(theirs):
                    raise LabError(
                        f"{at('network', i, a.name)}: {mine} overlaps {theirs} of {at('network', j, b.name)}",
                        "give every network a subnet of its own",
                    )
    return out


def _route(where: str, value: Any) -> Route:
    words = check_str(where, value).split()
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


def ruleset_files(where: str, table: Any, base: Path) -> tuple[RulesetFile, ...]:
    fw = check_keys(where, table, RULESET_KINDS)
    out = []
    for kind in RULESET_KINDS:
        if kind in fw:
            path = (base / check_str(f"{where}.{kind}", fw[kind])).resolve()
            if not path.is_file():
                raise LabError(
                    f"{where}.{kind}: {path} does not exist",
                    "put the file next to the lab file, or fix the path",
                )
            out.append(RulesetFile(kind, path))
    if len({RULESET_FRONTS[r.kind] for r in out} - {""}) > 1:  # an nft file and iptables files
        raise LabError(
            f"{where}: both an nft file and iptables files: rules in two backends in one namespace "
            "silently do nothing for each other",
            "give each host rules in one backend",
        )
    return tuple(out)


def _extra(where: str, values: Any, net: Network) -> tuple[Any, ...]:
    """More addresses on an interface: each in the network's subnet of its family."""
    if not isinstance(values, list):
        raise LabError(f"{where}: expected a list", 'extra_addresses = ["10.1.0.11", "2001:db8:1::11"]')
    return tuple(
        check_address(
            at(where, k), v, [net.subnet6 if ":" in str(v) else net.subnet], 6 if ":" in str(v) else 4
        )
        for k, v in enumerate(values)
    )


def _interfaces(where: str, raw_ifaces: Any, host: str, networks: dict[str, Network]) -> list[Interface]:
    if not isinstance(raw_ifaces, list) or not raw_ifaces:
        raise LabError(f"{where}.interfaces: missing", '{ network = "lan", address = "10.1.0.10" }')
    interfaces = []
    for j, raw in enumerate(raw_ifaces):
        iw = f"{where}.{at('interfaces', j)}"
        raw = check_keys(
            iw, raw, {"network", "address", "address6", "name", "peer", "mtu", "extra_addresses"}
        )
        if "name" in raw:  # a name the file gives names it; eth0, a default, is in no file
            iw = f"{where}.{at('interfaces', j, check_ifname(f'{iw}.name', raw['name']))}"
        if "network" not in raw:
            raise LabError(f"{iw}.network: missing", "name the network this interface is on")
        net_name = check_str(f"{iw}.network", raw["network"])
        if net_name not in networks:
            raise LabError(
                f"{iw}.network: unknown network '{net_name}'", "use one of: " + ", ".join(networks)
            )
        net = networks[net_name]
        address = (
            check_address(f"{iw}.address", raw["address"], [net.subnet], 4) if "address" in raw else None
        )
        address6 = (
            check_address(f"{iw}.address6", raw["address6"], [net.subnet6], 6) if "address6" in raw else None
        )
        if address is None and address6 is None:
            raise LabError(f"{iw}: no address", "give it address and/or address6")
        peer = raw.get("peer", f"v-{host}-{j}")
        if len(str(peer).encode()) > IFNAMSIZ and "peer" not in raw:
            raise LabError(
                f"{iw}.peer: the default name {peer!r} is over {IFNAMSIZ} bytes",
                f"set peer = a name of at most {IFNAMSIZ} bytes, or shorten the host name",
            )
        name = raw.get("name", f"eth{j}")
        mtu = check_mtu(f"{iw}.mtu", raw["mtu"], address6 is not None) if "mtu" in raw else None
        extra = _extra(f"{iw}.extra_addresses", raw.get("extra_addresses", []), net)
        interfaces.append(
            Interface(name, check_ifname(f"{iw}.peer", peer), net_name, address, address6, mtu, extra)
        )
    check_unique(
        "interface name", [(f"{where}.{at('interfaces', j)}.name", x.name) for j, x in enumerate(interfaces)]
    )
    return interfaces


def _routes(where: str, raw: Any, host: str, interfaces: list[Interface]) -> tuple[Route, ...]:
    if not isinstance(raw, list):
        raise LabError(f"{where}.routes: expected a list of strings")
    routes = tuple(_route(f"{where}.{at('routes', j)}", r) for j, r in enumerate(raw))
    connected = [a.network for x in interfaces for a in (x.address, x.address6) if a is not None]
    for j, route in enumerate(routes):
        if not any(route.via in net for net in connected):
            raise LabError(
                f"{where}.{at('routes', j)}: {route.via} is on no network {host} is connected to",
                "route via an address on one of the host's own networks",
            )
    return routes


_SYSCTL_KEY = re.compile(r"net(\.[A-Za-z0-9_-]+)+")
_SYSCTL_VALUE = re.compile(r"[A-Za-z0-9._-]+")


def _known_sysctl(key: str, interfaces: list[str]) -> str | None:
    """Why `key` cannot be one of this host's sysctls, by the lab file alone (None: it may
    be): a per-interface key (net.ipv4.conf.IFACE.NAME) names one of the host's interfaces,
    all or default. Whether the kernel has the key is the target's to say, where the lab
    runs (nslab.machine.sysctls), not this machine's."""
    parts = key.split(".")
    if len(parts) == 5 and parts[1] in ("ipv4", "ipv6") and parts[2] in ("conf", "neigh"):
        mine = [*interfaces, "all", "default"]
        if parts[3] not in mine:
            return f"interface {parts[3]!r} is not one of this host's ({', '.join(mine)})"
    return None


def sysctl_table(where: str, table: Any, interfaces: list[str]) -> tuple[tuple[str, str], ...]:
    """A host's sysctls: net.* keys only (a network namespace has its own; others are the
    machine's), per-interface keys on its own interfaces, plain values:
    { "net.ipv4.conf.all.rp_filter" = 1 }."""
    if not isinstance(table, dict):
        raise LabError(f"{where}: expected a table", '{ "net.ipv4.conf.all.rp_filter" = 1 }')
    out = []
    for key, value in table.items():
        if not _SYSCTL_KEY.fullmatch(key):
            raise LabError(
                f"{where}: {key!r} is not a network namespace's sysctl",
                "only net.* keys: each host is a network namespace; the rest is the machine's",
            )
        unknown = _known_sysctl(key, interfaces)
        if unknown:
            raise LabError(
                f"{where}: {key!r}: {unknown}", "name one of the host's interfaces, all or default"
            )
        text = str(int(value)) if isinstance(value, bool) else str(value)
        if not _SYSCTL_VALUE.fullmatch(text):
            raise LabError(f"{where}.{key}: {value!r} is not a plain value", "a number or a word, e.g. 1")
        out.append((key, text))
    return tuple(out)


def host_tables(entries: Any, networks: dict[str, Network], base: Path) -> list[Host]:
    out = []
    keys = {"name", "interfaces", "router", "routes", "firewall", "sysctls", "docker"}
    for i, (where, entry, name) in enumerate(_named(entries, "host", keys, "pc")):
        check_unreserved(f"{at('host', i)}.name", name, "host")
        interfaces = _interfaces(where, entry.get("interfaces", []), name, networks)
        router = entry.get("router", False)
        if not isinstance(router, bool):
            raise LabError(f"{where}.router: expected true or false, got {router!r}")
        routes = _routes(where, entry.get("routes", []), name, interfaces)
        fw = entry.get("firewall", {})
        manager = read_manager(f"{where}.firewall", fw, base) if isinstance(fw, dict) else None
        rulesets = ruleset_files(f"{where}.firewall", fw, base) if "firewall" in entry and not manager else ()
        sysctls = sysctl_table(f"{where}.sysctls", entry.get("sysctls", {}), [i.name for i in interfaces])
        docker = read_docker(f"{where}.docker", entry["docker"], base) if "docker" in entry else None
        out.append(Host(name, tuple(interfaces), router, routes, rulesets, sysctls, manager, docker=docker))
    check_unique("name", [(f"{at('host', i)}.name", h.name) for i, h in enumerate(out)])
    return out
