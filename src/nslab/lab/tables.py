"""A lab file's tables, each read by one function, into the one lab model (nslab.lab.model).

Two notations say the same things:
- networks and hosts: `[[network]]` and `[[host]]` tables, routers, routes, IPv6, rulesets;
- the seed's: one `[bridge]` whose address is the hosts' gateway, `[[namespace]]` tables
  on it, and the host's chain in `[firewall]`: a network `lan` with a gateway, hosts with
  one interface each, and a HostFirewall.
`[lab]`, `[firewall]` and `[upstream]` are read by the same function in both, so the
same rules hold for both (reserved names, documentation ranges for the upstream).
Every check happens before anything runs: a bad file is one LabError naming the field
(`host web.interfaces #1.address`; `host #2.name` where no name is known) and the fix.
"""

from __future__ import annotations

import difflib
import ipaddress
import re
from dataclasses import fields, replace
from pathlib import Path
from typing import Any

from nslab.errors import LabError
from nslab.lab.checks import (
    ALIASES,
    IFNAMSIZ,
    at,
    check_address,
    check_chain,
    check_documentation_value,
    check_domain,
    check_ifname,
    check_keys,
    check_mtu,
    check_name,
    check_policy,
    check_str,
    check_subnet,
    check_unique,
    check_unreserved,
    check_uplink_address,
    other_address,
)
from nslab.lab.docker import check_names as check_container_names
from nslab.lab.docker import read_docker
from nslab.lab.model import (
    BACKENDS,
    RULESET_KINDS,
    UPSTREAM6,
    Host,
    HostFirewall,
    Interface,
    Lab,
    Network,
    Route,
    RulesetFile,
    Upstream,
)


def is_seed_notation(raw: dict[str, Any]) -> bool:
    """A file without [[network]] / [[host]] tables is in the seed's notation."""
    return "network" not in raw and "host" not in raw


def read_lab(raw: dict[str, Any], base: Path) -> Lab:
    """A lab file's tables, in either notation; ruleset paths are relative to `base`."""
    if is_seed_notation(raw):
        return read_seed_notation(raw, base)
    check_keys("lab file", raw, {"lab", "network", "host", "upstream", "firewall", "explore"})
    name, top = lab_table(raw.get("lab", {}), {"sysctls"})
    backend, firewall = firewall_table(raw.get("firewall", {}), None)
    networks = network_tables(raw.get("network", []))
    hosts = host_tables(raw.get("host", []), {n.name: n for n in networks}, base)
    v6 = any(n.subnet6 is not None for n in networks)
    upstream = upstream_table(raw.get("upstream", {}), {h.name for h in hosts}, v6)
    explore = explore_table(raw.get("explore", {}))
    internet = "upstream" in raw  # none: the lab has no simulated internet
    lab = Lab(name, tuple(networks), tuple(hosts), upstream, backend, firewall, explore, internet=internet)
    return checked(host_parts(lab, raw, top, base))


def host_parts(lab: Lab, raw: dict[str, Any], top: dict[str, Any], base: Path) -> Lab:
    """The lab's host's own ruleset files ([firewall] nft = FILE, iptables = FILE ...) and
    sysctls ([lab] sysctls, e.g. net.bridge.bridge-nf-call-iptables = 0), in either notation."""
    fw = raw.get("firewall", {})
    files = {k: v for k, v in fw.items() if k in RULESET_KINDS} if isinstance(fw, dict) else {}
    legs = [n.bridge for n in lab.networks] + [lab.upstream.uplink]
    return replace(
        lab,
        host_rulesets=_rulesets("firewall", files, base) if files else (),
        host_sysctls=_sysctls("lab.sysctls", top.get("sysctls", {}), legs),
    )


def read_seed_notation(raw: dict[str, Any], base: Path | None = None) -> Lab:
    """The seed's notation (labs/seed.toml): one bridge, the lab's host its gateway."""
    check_keys("lab file", raw, {"lab", "bridge", "firewall", "namespace", "upstream", "explore"})
    name, top = lab_table(raw.get("lab", {}), {"subnet", "sysctls"})
    subnet = check_subnet("lab.subnet", top.get("subnet", "10.16.0.0/24"), 4)
    br = check_keys("[bridge]", raw.get("bridge", {}), {"name", "gateway"})
    gateway = check_address("bridge.gateway", br.get("gateway", str(next(subnet.hosts()))), [subnet], 4)
    lan = Network("lan", check_ifname("bridge.name", br.get("name", "br0")), subnet, gateway=gateway)
    backend, firewall = firewall_table(raw.get("firewall", {}), HostFirewall())
    entries = raw.get("namespace", [])
    if not isinstance(entries, list) or not entries:
        raise LabError(
            "namespace: a lab needs at least one [[namespace]] table", 'add one, e.g. name = "red"'
        )
    hosts = []
    for i, entry in enumerate(entries):
        where = at("namespace", i)
        entry = check_keys(where, entry, {"name", "interface", "peer", "address"})
        if "name" not in entry:
            raise LabError(f"{where}.name: missing", "every [[namespace]] needs a name")
        host = check_unreserved(f"{where}.name", check_name(f"{where}.name", entry["name"]), "namespace")
        where = at("namespace", i, host)  # named from here on: found in the file at a glance
        if "address" not in entry:
            raise LabError(f"{where}.address: missing", f"give {host} an address in {subnet}")
        leg = Interface(
            check_ifname(f"{where}.interface", entry.get("interface", f"veth1-{host}")),
            check_ifname(f"{where}.peer", entry.get("peer", f"veth0-{host}")),
            lan.name,
            check_address(f"{where}.address", entry["address"], [subnet], 4),
        )
        hosts.append(Host(host, (leg,)))
    check_unique("name", [(f"{at('namespace', i)}.name", h.name) for i, h in enumerate(hosts)])
    upstream = upstream_table(raw.get("upstream", {}), {h.name for h in hosts}, False)
    explore = explore_table(raw.get("explore", {}))
    lab = Lab(name, (lan,), tuple(hosts), upstream, backend, firewall, explore)
    return checked(host_parts(lab, raw, top, base or Path.cwd()))


# --- the tables both notations have ---------------------------------------------------------


def lab_table(table: Any, more: set[str]) -> tuple[str, dict[str, Any]]:
    top = check_keys("[lab]", table, {"name", *more})
    return check_name("lab.name", top.get("name", "lab")), top


def firewall_table(table: Any, default: HostFirewall | None) -> tuple[str, HostFirewall | None]:
    """The lab's firewall backend, and the host's chain (`chain`, `policy`) where given."""
    fw = check_keys("[firewall]", table, {"backend", "chain", "policy", *RULESET_KINDS})
    backend = check_str("firewall.backend", fw.get("backend", "nft"))
    if backend not in BACKENDS:
        raise LabError(
            f"firewall.backend: {backend!r} is not a firewall backend",
            "use nft (iptables-nft, the default), legacy (iptables-legacy) or nftables (native nft -f files)",
        )
    if default is None and "chain" not in fw and "policy" not in fw:
        return backend, None
    base = default or HostFirewall()
    return backend, HostFirewall(
        chain=check_chain("firewall.chain", fw.get("chain", base.chain)),
        policy=check_policy("firewall.policy", fw.get("policy", base.policy)),
    )


def explore_table(table: Any) -> tuple[tuple[str, int], ...]:
    """`[explore] ports = ["tcp/8080", "udp/53"]`: ports nslab explore probes besides those
    the lab's rulesets match on."""
    ex = check_keys("[explore]", table, {"ports"})
    ports = ex.get("ports", [])
    if not isinstance(ports, list):
        raise LabError("explore.ports: expected a list", 'ports = ["tcp/8080", "udp/53"]')
    out = []
    for i, item in enumerate(ports):
        m = re.fullmatch(r"(tcp|udp)/(\d+)", item) if isinstance(item, str) else None
        if m is None or not 1 <= int(m[2]) <= 65535:
            raise LabError(
                f"{at('explore.ports', i)}: {item!r} is not a port",
                "write tcp/PORT or udp/PORT, PORT 1-65535",
            )
        out.append((m[1], int(m[2])))
    return tuple(sorted(set(out)))


def upstream_table(table: Any, hosts: set[str], v6: bool) -> Upstream:
    """The simulated internet: documentation ranges only; IPv6 where the lab has it (or the
    table gives an IPv6 address). `interface` and `address` name the internet-facing
    interface and its address as the real host has them (`eth1`, 192.0.2.1/24: any
    documentation or public range), so a ruleset written for the real uplink runs as is;
    the isp then takes another address of that subnet."""
    up = check_keys("[upstream]", table, {f.name for f in fields(Upstream)} | set(ALIASES))
    for alias, key in ALIASES.items():
        if alias in up and key in up:
            raise LabError(f"upstream: both {alias} and {key} name the uplink's {key.replace('_', ' ')}",
                           f"keep one: {alias} = ...")  # fmt: skip
    d = Upstream()
    via = up.get("via")
    if via is not None and via not in hosts:
        raise LabError(f"upstream.via: unknown host '{via}'", "use one of: " + ", ".join(sorted(hosts)))
    six = UPSTREAM6 if v6 or any(k in up for k in (*UPSTREAM6, "address6")) else {}

    def doc(key: str, cls: Any, default: Any) -> Any:
        return check_documentation_value(f"upstream.{key}", up.get(key, str(default)), cls)

    uplink = check_ifname(f"upstream.{'interface' if 'interface' in up else 'uplink'}",
                          up.get("interface", up.get("uplink", d.uplink)))  # fmt: skip
    host_address, isp_address = d.host_address, doc("isp_address", ipaddress.IPv4Interface, d.isp_address)
    if "address" in up:
        host_address = check_uplink_address("upstream.address", up["address"])
        if "isp_address" not in up:
            isp_address = other_address(host_address)
    elif "host_address" in up:
        host_address = doc("host_address", ipaddress.IPv4Interface, d.host_address)
    upstream = Upstream(
        via=via,
        namespace=check_name("upstream.namespace", up.get("namespace", d.namespace)),
        uplink=uplink,
        peer=check_ifname("upstream.peer", up.get("peer", d.peer)),
        host_address=host_address,
        isp_address=isp_address,
        server=doc("server", ipaddress.IPv4Address, d.server),
        dns=doc("dns", ipaddress.IPv4Address, d.dns),
        domain=check_domain("upstream.domain", up.get("domain", d.domain)),
    )
    if six:
        host6: Any = six["host_address6"]
        isp6 = doc("isp_address6", ipaddress.IPv6Interface, six["isp_address6"])
        if "address6" in up:
            host6 = check_uplink_address("upstream.address6", up["address6"], 6)
            isp6 = isp6 if "isp_address6" in up else other_address(host6)
        elif "host_address6" in up:
            host6 = doc("host_address6", ipaddress.IPv6Interface, host6)
        upstream = replace(
            upstream,
            host_address6=host6,
            isp_address6=isp6,
            server6=doc("server6", ipaddress.IPv6Address, six["server6"]),
            dns6=doc("dns6", ipaddress.IPv6Address, six["dns6"]),
        )
    for key, mine, isp in (
        ("isp_address", upstream.host_address, upstream.isp_address),
        ("isp_address6", upstream.host_address6, upstream.isp_address6),
    ):
        if mine is not None and isp is not None and mine.network != isp.network:
            raise LabError(
                f"upstream.{key}: not in the same subnet as upstream.{key.replace('isp_', 'host_')}",
                f"pick an address in {mine.network}",
            )
    return upstream


# --- networks and hosts ------------------------------------------------------------------


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


def _rulesets(where: str, table: Any, base: Path) -> tuple[RulesetFile, ...]:
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
    if any(r.kind == "nft" for r in out) and any(r.kind in ("iptables", "ip6tables") for r in out):
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


PROC_SYS = Path("/proc/sys")


def _known_sysctl(key: str, interfaces: list[str]) -> str | None:
    """Why `key` is no sysctl of a network namespace on this kernel (None: it is one). A
    per-interface key (net.ipv4.conf.IFACE.NAME) names one of the host's interfaces, all
    or default, and a NAME every interface has (as conf/all lists them); other keys must
    exist under /proc/sys. Unchecked where /proc/sys/net cannot be read (not Linux)."""
    parts = key.split(".")
    if not (PROC_SYS / "net").is_dir():
        return None
    if len(parts) == 5 and parts[1] in ("ipv4", "ipv6") and parts[2] in ("conf", "neigh"):
        names = sorted(p.name for p in (PROC_SYS / "net" / parts[1] / parts[2] / "default").iterdir())
        mine = [*interfaces, "all", "default"]
        if parts[3] not in mine:
            return f"interface {parts[3]!r} is not one of this host's ({', '.join(mine)})"
        if parts[4] not in names:
            close = difflib.get_close_matches(parts[4], names, n=1)
            return f"{parts[1]} {parts[2]} has no setting {parts[4]!r}" + (
                f"; did you mean {close[0]}?" if close else ""
            )
        return None
    if not (PROC_SYS / Path(*parts)).is_file():
        here = PROC_SYS / Path(*parts[:-1])
        names = sorted(p.name for p in here.iterdir()) if here.is_dir() else []
        close = difflib.get_close_matches(parts[-1], names, n=1)
        return "this kernel has no such sysctl" + (
            f"; did you mean {'.'.join(parts[:-1])}.{close[0]}?" if close else ""
        )
    return None


def _sysctls(where: str, table: Any, interfaces: list[str]) -> tuple[tuple[str, str], ...]:
    """A host's sysctls: net.* keys only (a network namespace has its own; others are the
    machine's), each one this kernel has, plain values: { "net.ipv4.conf.all.rp_filter" = 1 }."""
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
                f"{where}: {key!r}: {unknown}", "give a key `sysctl -a` lists in a network namespace"
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
        rulesets = _rulesets(f"{where}.firewall", entry["firewall"], base) if "firewall" in entry else ()
        sysctls = _sysctls(f"{where}.sysctls", entry.get("sysctls", {}), [i.name for i in interfaces])
        docker = read_docker(f"{where}.docker", entry["docker"], base) if "docker" in entry else None
        out.append(Host(name, tuple(interfaces), router, routes, rulesets, sysctls, docker))
    check_unique("name", [(f"{at('host', i)}.name", h.name) for i, h in enumerate(out)])
    return out


# --- what no single table can tell ---------------------------------------------------------


def checked(lab: Lab) -> Lab:
    """Duplicates across networks and hosts, names shared between hosts and the upstream,
    interface names on the lab's host, the upstream outside the lab, the host's chain on a
    network it is the gateway of."""
    names = [(f"host {h.name}", h.name) for h in lab.hosts]
    check_unique("name", [*names, ("upstream.namespace", lab.upstream.namespace)])
    check_container_names([(h.name, h.docker) for h in lab.hosts], [lab.upstream.namespace])
    addresses = []
    for n in lab.networks:
        for a in (n.host, n.host6, n.gateway):
            if a is not None:
                addresses.append((f"network {n.name}", str(a.ip)))
    for h in lab.hosts:
        for i in h.interfaces:
            for a in (i.address, i.address6, *i.extra):
                if a is not None:
                    addresses.append((f"host {h.name}.{i.name}", str(a.ip)))
    check_unique("address", addresses)
    legs = [("upstream.uplink", lab.upstream.uplink), ("upstream.peer", lab.upstream.peer)]
    legs += [(f"network {n.name}.bridge", n.bridge) for n in lab.networks]
    legs += [(f"host {h.name}.{i.name}.peer", i.peer) for h in lab.hosts for i in h.interfaces]
    check_unique("interface name", legs)
    via = next((h for h in lab.hosts if h.name == lab.upstream.via), None)
    if via is not None and lab.upstream.uplink in {i.name for i in via.interfaces}:
        raise LabError(
            f"upstream.interface: {via.name} has an interface {lab.upstream.uplink!r} on a lab network",
            f'name {via.name}\'s other interfaces otherwise (name = "lan0") or the uplink another',
        )
    up = lab.upstream
    outside = [
        ip
        for ip in (
            up.host_address.network,
            up.host_address6.network if up.host_address6 else None,
            *(ipaddress.ip_network(a) for a in (up.server, up.dns, up.server6, up.dns6) if a is not None),
        )
        if ip is not None and lab.internet  # without an internet, its ranges are the lab's to use
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
    if lab.firewall is not None and lab.gateway_network is None:
        raise LabError(
            "firewall.chain: the host's chain guards the network it is the gateway of; no network has one",
            'give one network gateway = "ADDRESS" (the host\'s address there), or leave out chain and policy',
        )
    return lab
