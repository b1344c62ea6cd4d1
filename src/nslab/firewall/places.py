"""Where a lab's rules live and which reader reads them (PLACE:TOOL, nslab.firewall.REGISTRY),
and the public addresses its rulesets DNAT: what the kinds know of a lab as a whole. The
lab model keeps the kinds' names as data and asks nothing of them (it is read without
this package); every question of "which tool" is answered here, by the kinds.

>>> from nslab.lab import default_lab
>>> firewall_places(default_lab())
('host:iptables4',)
>>> backend_tool(default_lab())
'iptables'
"""

from __future__ import annotations

import ipaddress

from nslab.commands import Runner
from nslab.firewall import REGISTRY, get_kind
from nslab.firewall.iptables import IPTABLES_TABLES
from nslab.lab.addresses import own_addresses
from nslab.lab.checks import routable
from nslab.lab.model import Host, Lab

# the lab's firewall.backend -> the reader of a host's rules loaded by the stages
_BACKEND_READERS = {"nftables": "nft", "legacy": "legacy"}
_DEFAULT = "iptables"  # iptables-nft (backend = "nft")
_IPV4_ONLY = "iptables4"  # the lab's host of a lab without IPv6 (the seed's)
_BESIDE_NFT = "iptables+nft"  # the lab's host with native nft tables beside its iptables


def backend_tool(lab: Lab) -> str:
    """The reader the lab's backend is read with."""
    return _BACKEND_READERS.get(lab.backend, _DEFAULT)


def ruleset_tool(lab: Lab, kind: str) -> str:
    """The reader of a ruleset file of `kind` (the kind's `tool`: an iptables file is read
    with the tool that loaded it whatever the backend; an nft file with nft), else the
    lab's backend's."""
    return get_kind(kind).tool(lab.backend) or backend_tool(lab)


def _native(tool: str | None) -> bool:
    reader = REGISTRY.get(tool or "")
    return reader is not None and reader.nft


def firewall_tool(lab: Lab, h: Host) -> str:
    """The reader of a host's rules: nft's for a host with an nft file, else that of its
    iptables files, that of its manager's rules (ufw, firewalld), else the lab's backend's
    (a script reads as its host's other files)."""
    if h.manager is not None:
        return h.manager.tool
    tools = [t for r in h.rulesets if (t := get_kind(r.kind).tool(lab.backend))]
    return next((t for t in tools if _native(t)), tools[0] if tools else backend_tool(lab))


def file_tool(lab: Lab, h: Host, kind: str) -> str:
    """The reader of the rules one file of `kind` gives host `h` (a kind that names none:
    the host's)."""
    return get_kind(kind).tool(lab.backend) or firewall_tool(lab, h)


def firewall_places(lab: Lab) -> tuple[str, ...]:
    """Where the lab's rules live, as PLACE:TOOL: the lab's host (its chain, and bridged
    traffic), in the families the lab has, and every host with a ruleset or routing,
    read with the tool of its rules (an nft file: nft; else the lab's backend)."""
    host = f"host:{_DEFAULT}" if lab.v6 else f"host:{_IPV4_ONLY}"
    if any(_native(get_kind(r.kind).tool(lab.backend)) for r in lab.host_rulesets):
        host = f"host:{_BESIDE_NFT}"  # its nft tables beside iptables'
    return (
        host,
        *(f"{h.name}:{firewall_tool(lab, h)}" for h in lab.hosts if h.rulesets or h.router or h.manager),
    )


def dnat_addresses(lab: Lab) -> dict[str, list[str]]:
    """Each host's public addresses its rulesets DNAT (`ip daddr 192.0.2.80 ... dnat to
    10.2.0.10`, `-d 192.0.2.80 ... -j DNAT`, as each kind finds them) that no interface
    has: the internet routes them to the uplink, as an ISP routes a customer's block, and
    they are its addresses."""
    up = lab.upstream
    taken = {a for place in own_addresses(lab).values() for a in place}
    taken |= {str(a.ip) for a in (up.host_address, up.host_address6) if a is not None}
    out: dict[str, list[str]] = {}
    for h in lab.hosts:
        for r in h.rulesets:
            text = r.path.read_text(encoding="utf-8", errors="replace")
            for address in get_kind(r.kind).dnat_destinations(text):
                try:
                    ok = routable(ipaddress.ip_address(address)) and address not in taken
                except ValueError:
                    continue  # a set, a variable: not one address
                if ok and address not in out.get(h.name, []):
                    out.setdefault(h.name, []).append(address)
    return out


def host_has_native_nft(runner: Runner) -> bool:
    """Whether the lab's host (the runner's root namespace) holds nft tables of its own
    beside iptables-nft's (a step's `nft add table inet mine`)."""
    listed = runner.run(["nft", "list", "tables"]).stdout
    tables = {" ".join(line.split()[1:3]) for line in listed.splitlines() if line.startswith("table ")}
    return bool(tables - IPTABLES_TABLES)


def read_beside_xtables(place: str) -> str:
    """A place (PLACE:TOOL) where an xtables writer (dockerd's iptables-nft) adds rules
    beside the native nft ones its file loaded: read with both, each counted."""
    name, _, tool = place.partition(":")
    return f"{name}:{_BESIDE_NFT}" if _native(tool) else place


def read_host_with_nft(places: tuple[str, ...]) -> tuple[str, ...]:
    """The places with the lab's host read with nft too (its native tables beside iptables')."""
    return tuple(f"host:{_BESIDE_NFT}" if p.startswith("host:") else p for p in places)
