"""explore's reading of a router's routing where its "no route" ICMP answer may be missing
(nslab.reach.no_route): which flows it rewrites and which it leaves, on a fake `ip`.
On the real kernel: tests/netns/test_docker_explore.py."""

from __future__ import annotations

import json
from collections.abc import Sequence

from nslab.commands import Result
from nslab.reach.explore import Measured, Verdict
from nslab.reach.flows import Flow
from nslab.reach.no_route import NO_RULE, settle

API, DOCK, SRC, DST = "ns-api", "ns-dock", "172.17.0.2", "203.0.113.10"
ADDRS: dict[str | None, list[tuple[str, str]]] = {
    API: [("eth0", SRC)],
    DOCK: [("docker0", "172.17.0.1"), ("eth0", "10.30.0.10")],
    "isp": [("eth0", "198.51.100.2")],
}


class FakeIp:
    """`ip -j -4 addr`, `ip -j route get`, `sysctl -n ...forwarding` as the kernel prints
    them for api -> dock -> (no route): `route_error` is dock's answer."""

    def __init__(self, route_error: str = "RTNETLINK answers: Network is unreachable", forwarding: str = "1"):
        self.route_error, self.forwarding = route_error, forwarding
        self.asked: list[tuple[str | None, tuple[str, ...]]] = []

    def run(self, cmd: Sequence[str], *, ns: str | None = None) -> Result:
        self.asked.append((ns, tuple(cmd)))
        if cmd[:3] == ["ip", "-j", "-4"]:
            links = [{"ifname": n, "addr_info": [{"local": a}]} for n, a in ADDRS[ns]]
            return Result(" ".join(cmd), 0, json.dumps(links), "", 0.0)
        if cmd[:4] == ["ip", "-j", "route", "get"]:
            if ns == API:
                out = [{"type": "unicast", "dst": DST, "gateway": "172.17.0.1", "dev": "eth0"}]
                return Result(" ".join(cmd), 0, json.dumps(out), "", 0.0)
            return Result(" ".join(cmd), 2, "", self.route_error + "\n", 0.0)
        if cmd[0] == "sysctl":
            return Result(" ".join(cmd), 0, self.forwarding + "\n", "", 0.0)
        raise AssertionError(cmd)


def _measured(outcomes: Sequence[str], why: str = NO_RULE) -> list[Measured]:
    return [
        Measured(Flow("api", "the internet", "tcp", 22 + i, False), Verdict(o, why, None, None, SRC, DST))
        for i, o in enumerate(outcomes)
    ]


PLACES = {"api": API, "dock": DOCK, "the internet": "isp"}


def test_a_router_without_a_route_makes_every_port_rejected_naming_it() -> None:
    got = settle(FakeIp(), PLACES, _measured(["rejected", "rejected", "dropped", "no answer"]))
    assert {(m.verdict.outcome, m.verdict.decided_by) for m in got} == {
        ("rejected", f"dock has no route to {DST} (ip route get: Network is unreachable)")
    }


def test_a_router_that_does_not_forward_or_drops_by_rp_filter_is_left_alone() -> None:
    before = _measured(["rejected", "dropped"])
    assert settle(FakeIp(forwarding="0"), PLACES, before) == before  # it drops silently
    rp = FakeIp(route_error="RTNETLINK answers: Invalid cross-device link")
    assert settle(rp, PLACES, before) == before  # rp_filter: no ICMP answer at all


def test_a_flow_a_rule_decided_or_that_got_through_is_never_asked() -> None:
    fake = FakeIp()
    before = _measured(["dropped"], why="dock: dropped by FORWARD policy DROP") + _measured(["accepted"])
    assert settle(fake, PLACES, before) == before
    assert fake.asked == []


def test_where_no_port_heard_the_routers_answer_silence_stays_a_drop() -> None:
    # the router's error lost on its way back (a firewall, no route back): every port silent
    before = _measured(["dropped", "no answer"])
    assert settle(FakeIp(), PLACES, before) == before
