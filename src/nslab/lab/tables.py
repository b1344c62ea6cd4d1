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

import ipaddress
import re
from dataclasses import fields, replace
from pathlib import Path
from typing import Any

from nslab.errors import LabError
from nslab.lab.checks import (
    ALIASES,
    at,
    check_address,
    check_chain,
    check_documentation_value,
    check_domain,
    check_ifname,
    check_keys,
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
from nslab.lab.hosts import host_tables, network_tables, ruleset_files, sysctl_table
from nslab.lab.model import (
    BACKENDS,
    RULESET_KINDS,
    UPSTREAM6,
    Host,
    HostFirewall,
    Interface,
    Lab,
    Network,
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
        host_rulesets=ruleset_files("firewall", files, base) if files else (),
        host_sysctls=sysctl_table("lab.sysctls", top.get("sysctls", {}), legs),
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
