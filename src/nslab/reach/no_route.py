"""Flows a router drops for want of a route, told from the kernel's routing table rather
than from its ICMP answer alone.

A router with no route to a flow's destination answers with an ICMP "network unreachable"
(ip_error in the kernel), rate limited per source address by net.ipv4.route.error_cost and
error_burst: machine-wide settings that exist only in the machine's own namespace, which
nslab never changes. Measured on a lab whose Docker host has no way out: of a container's
13 flows to the internet, the first 5 got the ICMP ("rejected") and the rest heard nothing
("dropped", "no answer"), the same on every run, though the kernel had "Network is
unreachable" for every port. So a flow no firewall rule decided, that was rejected or got
no answer, is followed hop by hop with `ip route get` (each router asked with the
interface the flow came in on); where a forwarding router has no route, and that source
heard the router's answer at least once, every such flow of that source and destination is
"rejected", naming the router and the kernel's words.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence

from nslab.probe.neighbours import MAX_HOPS, Runs, addresses, route_get
from nslab.reach.verdict import Measured

NO_RULE = "no firewall rule or policy decided it"
QUESTIONED = ("rejected", "dropped", "no answer", "lost")
# what `ip route get ... iif DEV` prints for a forwarding router with no route; both are
# answered by ip_error with an ICMP error (a host that does not forward drops silently)
ROUTE_ERRORS = ("Network is unreachable", "No route to host")


@dataclasses.dataclass(frozen=True)
class NoRoute:
    """The router (a place's name) that has no route to `dst`, and the kernel's words."""

    router: str
    dst: str
    words: str

    def evidence(self) -> str:
        return f"{self.router} has no route to {self.dst} (ip route get: {self.words})"


Owner = tuple[str | None, str, str]  # namespace, interface, place name


def owners(w: Runs, spaces: Mapping[str | None, str]) -> dict[str, Owner]:
    """Every IPv4 address of the given namespaces (namespace -> place name): its holder."""
    out: dict[str, Owner] = {}
    for ns, name in spaces.items():
        for address, ifname in addresses(w, ns, "-4"):
            if ifname != "lo":
                out.setdefault(address, (ns, ifname, name))
    return out


def dead_end(w: Runs, held: Mapping[str, Owner], ns: str | None, src: str, dst: str) -> NoRoute | None:
    """The forwarding router on the way from `src` (in `ns`) to `dst` that has no route to
    it; None where the way is routed, leaves what nslab knows, or nslab cannot tell."""
    iif: str | None = None
    name = ""
    for _ in range(MAX_HOPS):
        r, route = route_get(w, ns, dst, "from", src, *(["iif", iif] if iif else []))
        if r.rc != 0:
            words = next((e for e in ROUTE_ERRORS if e in r.stderr), None)
            if iif is None or words is None:
                return None  # the source's own lack of a route is its probe's "unreachable"
            forwarding = w.run(["sysctl", "-n", f"net.ipv4.conf.{iif}.forwarding"], ns=ns)
            return NoRoute(name, dst, words) if forwarding.stdout.strip() == "1" else None
        if not route:
            return None
        nexthop = str(route.get("gateway") or dst)
        if route.get("type") not in (None, "unicast") or nexthop == dst or nexthop not in held:
            return None  # delivered, or beyond the namespaces nslab knows
        ns, iif, name = held[nexthop]
    return None


def settle(w: Runs, sources: Mapping[str, str | None], measured: Sequence[Measured]) -> list[Measured]:
    """`measured` with the flows a router had no route for made alike (see the module);
    `sources`: each place's namespace, by the place's name."""
    groups: dict[tuple[str | None, str, str], list[int]] = {}
    for i, m in enumerate(measured):
        v = m.verdict
        asked = v.outcome in QUESTIONED and v.decided_by == NO_RULE and m.flow.src in sources
        if asked and v.from_address and v.to_address and ":" not in v.to_address:  # IPv4: ip_error's
            groups.setdefault((sources[m.flow.src], v.from_address, v.to_address), []).append(i)
    if not groups:
        return list(measured)
    spaces: dict[str | None, str] = {}
    for name, ns in sources.items():
        spaces.setdefault(ns, name)
    held = owners(w, spaces)
    ends = {key: dead_end(w, held, *key) for key in groups}
    # only where the router's answer was heard by that source at least once (an ICMP error
    # a firewall or a missing way back loses is lost for every port: "dropped" is then true)
    heard = {
        (key[0], key[1], found.router)
        for key, found in ends.items()
        if found is not None and any(measured[i].verdict.outcome == "rejected" for i in groups[key])
    }
    out = list(measured)
    for key, found in ends.items():
        if found is None or (key[0], key[1], found.router) not in heard:
            continue
        for i in groups[key]:
            verdict = dataclasses.replace(out[i].verdict, outcome="rejected", decided_by=found.evidence())
            out[i] = dataclasses.replace(out[i], verdict=verdict)
    return out
