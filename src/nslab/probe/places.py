"""A step's places as addresses, where the lab alone cannot say: a host with several
addresses named from a probe's source, a host's loopback, the simulated internet of a lab
that has none. nslab.lab.model resolves the rest (a name, a named place, a lab address);
nslab.scenario.session asks here first.

>>> str(loopback(None, "127.0.0.1", False, "web"))
'127.0.0.1'
"""

from __future__ import annotations

import ipaddress

from nslab.commands import Runner
from nslab.errors import LabError
from nslab.lab import Host, Lab
from nslab.lab.checks import IPAddress

# The simulated internet's places (Lab.known_places): a lab without [upstream] has none.
INTERNET_PLACES = ("the internet", "the isp", "the uplink", "the resolver")


def require_internet(lab: Lab, name: str) -> None:
    """One line for a step naming the simulated internet in a lab that has none."""
    if not lab.internet:
        raise LabError(
            f"lab '{lab.name}' has no simulated internet, so no {name.removeprefix('the ')}",
            'add an [upstream] table to the lab file (via = "ROUTER": the router it hangs off)',
        )


def loopback(lab: Lab | None, where: str, v6: bool, src: str | None) -> IPAddress | None:
    """`web's loopback` (127.0.0.1, ::1 over IPv6) or a loopback address (the source's own);
    None for any other place. A host's loopback is reached from that host only: from
    another, the address is the source's own loopback, not the host's."""
    name = where.removesuffix("'s loopback") if where.endswith("'s loopback") else None
    if name is None:
        try:
            literal = ipaddress.ip_address(where)
        except ValueError:
            return None
        return literal if literal.is_loopback else None
    if lab is not None:
        lab.namespace(name)  # an unknown host: the error listing the hosts
    if src is not None and src != name:
        raise LabError(
            f"{where} is reachable from {name} only: from {src}, a loopback address is {src}'s own",
            f"probe it from {name} ('{name} pings {where}'), or name {name} itself",
        )
    return ipaddress.IPv6Address("::1") if v6 else ipaddress.IPv4Address("127.0.0.1")


def facing(lab: Lab, runner: Runner | None, host: Host, v6: bool, src: str, src_ns: str) -> IPAddress | None:
    """`host`'s address on the side of `src` (a probe's source, in namespace `src_ns`): on a
    network they share, else the first `src` has a route to (`ip route get` there; its
    first address may be on a network the source cannot reach: the probe would never
    leave). None: no such address, or no world to ask."""
    mine = {i.network for h in lab.hosts if h.name == src for i in h.interfaces}
    for i in host.interfaces:
        a = i.address6 if v6 else i.address
        if a is not None and i.network in mine:
            return a.ip
    if runner is None:
        return None
    for candidate in host.addresses(v6):
        if runner.run(["ip", "-6" if v6 else "-4", "route", "get", str(candidate)], ns=src_ns).ok:
            return candidate
    return None  # no route to any: the first, and the probe says it is unreachable
