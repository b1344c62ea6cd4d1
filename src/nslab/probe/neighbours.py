"""IPv6 flows lost because a firewall dropped the neighbour discovery their way needed:
which neighbours a flow needed (every next hop from its source to its destination), and
one verdict for such a loss whatever the kernel's timing.

A flow needs its source to resolve its first hop, each router its next, and the last one
the destination; a rule that drops the solicitations (or the adverts answering them) of
any of these loses the flow though nothing drops the flow's own packets: desk -> the
internet through a gateway fw whose input chain drops ICMPv6 never leaves desk (desk
cannot resolve fw), and fw -> the internet never leaves fw (fw drops the upstream's
advert). Explore matched the discovery only to the destination's address, and said of
both "no firewall rule or policy decided it".

The outcome of such a flow raced the kernel: it answers a packet whose neighbour never
resolved with an ICMPv6 address-unreachable (a local connect with EHOSTUNREACH) only once
discovery gives up (3 solicitations, 1 s apart: ~3 s), so a probe that waited less said
"dropped" and one that waited longer, or began while an earlier probe's discovery was
ending, said "rejected" (a new user's golden file failed with no change, 5 runs in a row
at load 6). So a loss decided by neighbour discovery alone reads as the protocol's silent
loss (tcp dropped, udp no answer, icmp lost), whichever came back, and its reason says so.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Protocol

from nslab.firewall.evidence import Decision, deciders

if TYPE_CHECKING:
    from nslab.commands import Result

# the outcome class of a flow that neighbour discovery lost, by protocol: its packets
# never left the hop that could not resolve its neighbour
SILENT = {"tcp": "dropped", "udp": "no answer", "icmp": "lost"}
# what the kernel answers once discovery gives up: ICMPv6 code 3 (netprobe names it
# "host-unreachable", as `reject with icmpx host-unreachable` sends the same code), and a
# local connect's EHOSTUNREACH
ND_ANSWERS = ("host-unreachable", "No route to host")
MAX_HOPS = 16  # more routers than any lab has: a routing loop stops here


def because(outcome: str, v4: bool = False) -> str:
    """The reason's note: which class, and why whatever the kernel's timing (IPv4's ARP
    gives up as IPv6's discovery does, 3 requests 1 s apart, and the kernel then answers
    with an ICMP host-unreachable: measured, 2.8 to 3.1 s after the SYN)."""
    answer, gives_up = (
        ("host-unreachable", "ARP gives up") if v4 else ("address-unreachable", "discovery gives up")
    )
    return f"(read as {outcome} however late the kernel's {answer} comes: it answers when {gives_up})"


def arp_failed(where: str, hop: str, outcome: str) -> str:
    """The reason of a flow a DNAT sent to an address whose neighbour never answered:
    `neighbour resolution failed: r got no ARP answer for 10.2.0.13 (read as dropped ...)`
    (IPv6: `neighbour discovery failed: r got no answer for 2001:db8:2::13 (...)`)."""
    if ":" in hop:
        return f"neighbour discovery failed: {where} got no answer for {hop} {because(outcome)}"
    return f"neighbour resolution failed: {where} got no ARP answer for {hop} {because(outcome, True)}"


class Runs(Protocol):
    def run(self, cmd: Sequence[str], *, ns: str | None = None) -> Result: ...


Owner = tuple[str | None, str]  # namespace, interface


def addresses(w: Runs, ns: str | None, *which: str) -> list[tuple[str, str]]:
    """(address, interface) of each address `ip -j ADDR... addr show` lists in `ns` (`which`:
    its options, e.g. "-6" and "scope", "global"); none where ip fails or says no JSON."""
    r = w.run(["ip", "-j", *which[:1], "addr", "show", *which[1:]], ns=ns)
    try:
        links = json.loads(r.stdout) if r.rc == 0 else []
    except ValueError:
        return []
    return [
        (str(info["local"]), str(link.get("ifname", "")))
        for link in links
        for info in link.get("addr_info", [])
        if info.get("local")
    ]


def route_get(
    w: Runs, ns: str | None, dst: str, *where: str, v6: bool = False
) -> tuple[Result, dict[str, Any]]:
    """`ip -j [-6] route get DST WHERE...` in `ns` (`where`: "from", SRC, "iif", DEV): its
    result and its route ({} where ip failed or printed no route)."""
    r = w.run(["ip", "-j", *(["-6"] if v6 else []), "route", "get", dst, *where], ns=ns)
    try:
        route = json.loads(r.stdout)[0] if r.rc == 0 else {}
    except (ValueError, LookupError):
        route = {}
    return r, route if isinstance(route, dict) else {}


def owners(w: Runs, spaces: Sequence[str | None]) -> dict[str, Owner]:
    """Every global IPv6 address of the given namespaces, with its holder."""
    out: dict[str, Owner] = {}
    for ns in spaces:
        for address, ifname in addresses(w, ns, "-6", "scope", "global"):
            out.setdefault(address, (ns, ifname))
    return out


def next_hops(w: Runs, held: Mapping[str, Owner], ns: str | None, src: str, dst: str) -> list[str]:
    """The routers' addresses a packet from `src` (in `ns`) to `dst` is sent to on its way,
    each as the hop before resolves it (`ip route get`, each router asked with the
    interface the packet came in on); the destination itself is not among them. It stops
    where the way leaves the namespaces nslab knows, or has no route."""
    out: list[str] = []
    iif: str | None = None
    for _ in range(MAX_HOPS):
        where = ["from", src, "iif", iif] if iif else (["from", src] if src else [])
        _, route = route_get(w, ns, dst, *where, v6=True)
        gateway = route.get("gateway")
        if not gateway or route.get("type") not in (None, "unicast") or gateway in out:
            return out
        out.append(str(gateway))
        if gateway not in held:
            return out
        ns, iif = held[gateway]
    return out


def decided(
    found: Sequence[Decision], outcome: str, icmp: str | None = None, error: str | None = None
) -> bool:
    """Whether a flow's loss was neighbour discovery's alone: it was lost (silent, or
    answered as a failed discovery is) and what dropped it dropped only the discovery."""
    if outcome not in SILENT.values() and not answered(outcome, icmp, error):
        return False
    chosen = deciders(found, lost=True)
    return bool(chosen) and all(d.nd for d in chosen)


def answered(outcome: str, icmp: str | None, error: str | None) -> bool:
    """Whether a probe came back as the kernel answers a failed discovery: an ICMPv6
    address-unreachable, or a local connect's EHOSTUNREACH."""
    return (outcome == "rejected" and icmp in ND_ANSWERS) or (
        outcome == "unreachable" and error in ND_ANSWERS
    )


UNRESOLVED = {"FAILED", "INCOMPLETE"}  # a neighbour entry whose discovery got no answer


def neighbour_states(w: Runs, ns: str | None, *which: str, v6: bool = True) -> dict[str, set[str]]:
    """Each IPv6 neighbour `ip -j -6 neigh show WHICH...` lists in `ns` ("to", ADDRESS: one)
    with its states (over every interface it has an entry on); none where ip fails.
    `v6=False`: IPv4's (ARP's) entries."""
    r = w.run(["ip", "-j", "-6" if v6 else "-4", "neigh", "show", *which], ns=ns)
    try:
        entries = json.loads(r.stdout) if r.rc == 0 else []
    except ValueError:
        return {}
    out: dict[str, set[str]] = {}
    for e in entries:
        if e.get("dst"):
            out.setdefault(str(e["dst"]), set()).update(e.get("state", []))
    return out


def unresolved(w: Runs, ns: str | None, dst: str) -> str | None:
    """The neighbour `ns` could not resolve on its way to `dst` (its next hop, or `dst`
    itself on a link), as the kernel's neighbour table says; None where it resolved it,
    or has no entry (the kernel's answer then was no discovery's). IPv4's too: ARP's
    entries are in the same table."""
    v6 = ":" in dst
    _, route = route_get(w, ns, dst, v6=v6)
    if not route:
        return None
    hop = str(route.get("gateway") or dst)
    states = set().union(*neighbour_states(w, ns, "to", hop, v6=v6).values())
    return hop if states & UNRESOLVED else None


def unresolved_anywhere(w: Runs, spaces: Sequence[str | None]) -> set[str]:
    """Every IPv6 neighbour some namespace of `spaces` tried and failed to resolve (one
    `ip neigh` each): a router's address a flow's way needed counts only if so, as the
    trace's discovery packets name a solicited-node group, which addresses with the same
    last 24 bits share (2001:db8:10::1's is 2001:db8:f::1's)."""
    return {dst for ns in spaces for dst, states in neighbour_states(w, ns).items() if states & UNRESOLVED}
