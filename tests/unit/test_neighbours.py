"""Which neighbours a lost IPv6 flow needed and when its loss was neighbour discovery's
(nslab.probe.neighbours), on a fake `ip` and hand-made decisions. On the real kernel:
tests/netns/test_neighbour_discovery.py."""

from __future__ import annotations

import json
from collections.abc import Sequence

from nslab.commands import Result
from nslab.firewall.evidence import Decision
from nslab.machine.sysctls import KernelSysctls
from nslab.probe import neighbours

DESK, FW, ISP = "desk", "fw", "isp"
HELD: dict[str, neighbours.Owner] = {"2001:db8:10::1": (FW, "eth0"), "2001:db8:f::2": (ISP, "eth0")}
SERVER = "2001:db8:ff::10"
ND_POLICY = Decision(FW, "inet fw", "input", None, "DROP", "", 1, nd=True)
POLICY = Decision(FW, "inet fw", "input", None, "DROP", "", 1)
FORWARD = Decision(FW, "inet fw", "forward", 2, "ACCEPT", 'iifname "eth0" accept', 1, 2)


class FakeIp:
    """`ip -j -6 route get` as the kernel prints it for desk -> fw -> isp (the server's
    address is isp's own), and `ip -j -6 neigh show to` with desk's entry for fw."""

    def __init__(self, state: str = "FAILED") -> None:
        self.state = state
        self.asked: list[tuple[str | None, tuple[str, ...]]] = []

    def run(self, cmd: Sequence[str], *, ns: str | None = None) -> Result:
        self.asked.append((ns, tuple(cmd)))
        if cmd[:5] == ["ip", "-j", "-6", "route", "get"]:
            route = {
                DESK: {"type": "unicast", "dst": SERVER, "gateway": "2001:db8:10::1", "dev": "eth0"},
                FW: {"type": "unicast", "dst": SERVER, "gateway": "2001:db8:f::2", "dev": "uplink0"},
                ISP: {"type": "local", "dst": SERVER, "dev": "lo"},
            }[str(ns)]
            return Result(" ".join(cmd), 0, json.dumps([route]), "", 0.0)
        if cmd[:5] == ["ip", "-j", "-6", "neigh", "show"]:
            entries = [{"dst": cmd[-1], "dev": "eth0", "state": [self.state]}]
            return Result(" ".join(cmd), 0, json.dumps(entries), "", 0.0)
        raise AssertionError(cmd)


def test_a_flow_through_a_gateway_needs_every_router_on_its_way() -> None:
    ip = FakeIp()
    assert neighbours.next_hops(ip, HELD, DESK, "2001:db8:10::50", SERVER) == [
        "2001:db8:10::1",
        "2001:db8:f::2",
    ]
    # each router is asked with the interface the packet came in on, and the source
    assert (
        FW,
        ("ip", "-j", "-6", "route", "get", SERVER, "from", "2001:db8:10::50", "iif", "eth0"),
    ) in ip.asked


def test_a_loss_is_discoverys_only_where_only_the_discovery_was_dropped() -> None:
    # desk -> the internet: fw forwards nothing of it, drops only the discovery
    assert neighbours.decided([ND_POLICY], "dropped")
    assert neighbours.decided([FORWARD, ND_POLICY], "lost")
    # the kernel's answer once discovery gave up, however soon it came
    assert neighbours.decided([ND_POLICY], "rejected", icmp="host-unreachable")
    assert neighbours.decided([ND_POLICY], "unreachable", error="No route to host")
    # a drop of the flow's own packets decides it; a REJECT's own reason is no discovery's
    assert not neighbours.decided([ND_POLICY, POLICY], "dropped")
    assert not neighbours.decided([ND_POLICY], "rejected", icmp="admin-prohibited")
    assert not neighbours.decided([], "dropped")
    assert not neighbours.decided([ND_POLICY], "accepted")


def test_the_neighbour_table_says_which_neighbour_stayed_unresolved() -> None:
    assert neighbours.unresolved(FakeIp("FAILED"), DESK, SERVER) == "2001:db8:10::1"
    assert neighbours.unresolved(FakeIp("INCOMPLETE"), DESK, SERVER) == "2001:db8:10::1"
    assert neighbours.unresolved(FakeIp("REACHABLE"), DESK, SERVER) is None


def test_a_hosts_neigh_sysctl_is_known_though_a_namespace_has_no_neigh_default() -> None:
    # a new network namespace lists neigh/lo only (6.1, measured), conf/default too
    kernel = KernelSysctls(["net/ipv6/neigh/lo/retrans_time_ms", "net/ipv4/conf/default/rp_filter"])
    assert kernel.problem("net.ipv6.neigh.eth0.retrans_time_ms") is None
    assert kernel.problem("net.ipv6.neigh.eth0.retrans_tim_ms") == (
        "ipv6 neigh has no setting 'retrans_tim_ms'; did you mean retrans_time_ms?"
    )
