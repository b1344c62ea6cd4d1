"""Parsers on real output captured from iputils ping, iproute2 and iptables (tests/data)."""

from __future__ import annotations

from conftest import DATA

from nslab import parse
from nslab.firewall import iptables_parse, nft_parse

SEED_LOSS = "3 packets transmitted, 0 received, 100% packet loss, time 2061ms"
SEED_OK = """PING 10.16.0.3 (10.16.0.3) 56(84) bytes of data.
64 bytes from 10.16.0.3: icmp_seq=1 ttl=64 time=0.363 ms
64 bytes from 10.16.0.3: icmp_seq=2 ttl=64 time=0.061 ms
64 bytes from 10.16.0.3: icmp_seq=3 ttl=64 time=0.056 ms

--- 10.16.0.3 ping statistics ---
3 packets transmitted, 3 received, 0% packet loss, time 2027ms
rtt min/avg/max/mdev = 0.056/0.160/0.363/0.143 ms
"""


def read(name: str) -> str:
    return (DATA / name).read_text()


def test_seed_loss_line() -> None:
    r = parse.ping(SEED_LOSS)
    assert (r.transmitted, r.received, r.loss_pct, r.time_ms) == (3, 0, 100.0, 2061)
    assert r.error_kind == parse.TIMEOUT and r.all_lost


def test_seed_success_output() -> None:
    r = parse.ping(SEED_OK)
    assert (r.transmitted, r.received, r.loss_pct) == (3, 3, 0.0)
    assert r.rtt == parse.Rtt(0.056, 0.160, 0.363, 0.143)
    assert r.reply_from == ("10.16.0.3",) * 3
    assert r.error is None and r.summary == "3 packets transmitted, 3 received, 0% packet loss, time 2027ms"


def test_captured_default_loss_and_fast_loss() -> None:
    for name in ("ping-loss-forward-drop.txt", "ping-loss-fast.txt"):
        r = parse.ping(read(name))
        assert (r.transmitted, r.received, r.loss_pct, r.error_kind) == (3, 0, 100.0, "timeout"), name


def test_captured_network_unreachable() -> None:
    text = read("ping-network-unreachable.txt")
    assert text.strip() == "ping: connect: Network is unreachable"
    r = parse.ping(text)
    assert r.error == "Network is unreachable" and r.error_kind == parse.NETWORK_UNREACHABLE
    assert r.transmitted == 0


def test_captured_host_unreachable_counts_errors() -> None:
    r = parse.ping(read("ping-host-unreachable.txt"))
    assert r.error_kind == parse.HOST_UNREACHABLE and r.errors == 3
    assert (r.transmitted, r.received, r.loss_pct) == (3, 0, 100.0)


def test_captured_unknown_host() -> None:
    r = parse.ping(read("ping-unknown-host.txt"))
    assert r.error_kind == parse.UNKNOWN_HOST
    assert r.error == "Temporary failure in name resolution"


def test_captured_gateway_ping() -> None:
    r = parse.ping(read("ping-gateway.txt"))
    assert (r.transmitted, r.received) == (2, 2) and set(r.reply_from) == {"10.16.0.1"}


def test_busybox_style_summary() -> None:
    text = (
        "2 packets transmitted, 2 packets received, 0% packet loss\nround-trip min/avg/max = 0.1/0.2/0.3 ms\n"
    )
    r = parse.ping(text)
    assert (r.received, r.rtt) == (2, parse.Rtt(0.1, 0.2, 0.3, None))


def test_routes_json_renders_like_ip_route() -> None:
    routes = parse.routes(read("ip-j-route-red.json"))
    text_lines = [line.rstrip() for line in read("ip-route-red.txt").splitlines()]
    assert (
        [r.line() for r in routes]
        == text_lines
        == [
            "default via 10.16.0.1 dev veth1-red",
            "10.16.0.0/24 dev veth1-red proto kernel scope link src 10.16.0.2",
        ]
    )


def test_addresses_and_links() -> None:
    addrs = parse.addresses(read("ip-j-addr-world.json"))
    assert "10.16.0.1/24" in [str(a) for a in addrs["br0"]]
    links = {lk.name: lk for lk in parse.links(read("ip-j-link-world.json"))}
    assert links["br0"].kind == "bridge"
    assert links["veth0-red"].kind == "veth" and links["veth0-red"].master == "br0"


def test_iptables_save_nft_with_counters() -> None:
    rs = iptables_parse.iptables_save(read("iptables-save-c-nft.txt"))
    fwd = rs.chain("FORWARD")
    assert fwd is not None and fwd.policy == "DROP" and fwd.rules[0].target == "NAVY"
    navy = rs.chain("NAVY")
    assert navy is not None and navy.policy is None
    specs = [r.spec for r in navy.rules]
    assert specs[-1] == "-j RETURN"
    assert "-s 10.16.0.0/24 -d 10.16.0.0/24 -j ACCEPT" in specs
    assert "-s 10.16.0.0/24 -i br0 ! -o br0 -j ACCEPT" in specs
    accepted = next(r for r in navy.rules if r.spec == "-s 10.16.0.0/24 -d 10.16.0.0/24 -j ACCEPT")
    assert accepted.packets and accepted.packets > 0
    nat = rs.chain("POSTROUTING", "nat")
    assert nat is not None and nat.rules[0].target == "MASQUERADE"


def test_iptables_save_legacy_with_counters() -> None:
    rs = iptables_parse.iptables_save(read("iptables-save-c-legacy.txt"))
    navy = rs.chain("NAVY")
    assert navy is not None
    assert [(r.spec, r.packets) for r in navy.rules] == [
        ("-s 10.16.0.0/24 -d 10.16.0.0/24 -j ACCEPT", 6),
        ("-j RETURN", 0),
    ]
    assert rs.chain_names() == ["INPUT", "FORWARD", "OUTPUT", "NAVY"]


def test_iptables_save_rejects_garbage() -> None:
    import pytest

    with pytest.raises(ValueError, match="before any"):
        iptables_parse.iptables_save("-A FORWARD -j ACCEPT\n")


def test_iptables_list_policy() -> None:
    text = read("iptables-L-forward-drop.txt")
    assert "Chain FORWARD (policy DROP)" in text.splitlines()
    assert iptables_parse.iptables_policies(text)["FORWARD"] == "DROP"


def test_ss_listening_sockets() -> None:
    found = parse.ss_listening(read("ss-H-tuln-blue.txt"))
    assert [(s.proto, s.state, s.port) for s in found] == [
        ("udp", "UNCONN", 53),
        ("tcp", "LISTEN", 443),
        ("tcp", "LISTEN", 80),
    ]
    assert {s.address for s in found} == {"*"}  # dual-stack sockets bound to ::


def test_conntrack_flows_with_state_flags_and_both_directions() -> None:
    tcp, udp = parse.conntrack(read("conntrack-L-host.txt"))
    assert (tcp.proto, tcp.state, tcp.flags) == ("tcp", "ESTABLISHED", ("ASSURED",))
    assert tcp.original == {"src": "10.16.0.2", "dst": "10.16.0.3", "sport": "47402", "dport": "80"}
    assert tcp.reply == {"src": "10.16.0.3", "dst": "10.16.0.2", "sport": "80", "dport": "47402"}
    assert (udp.proto, udp.state, udp.original["dport"], udp.reply["sport"]) == ("udp", None, "53", "53")
    assert tcp.describe() == "tcp ESTABLISHED 10.16.0.2:47402 -> 10.16.0.3:80 [ASSURED]"
    assert parse.conntrack("conntrack v1.4.7 (conntrack-tools): 0 flow entries have been shown.\n") == []


def test_nft_json_native_ruleset_with_counters() -> None:
    rs = nft_parse.nft_json(read("nft-j-list-ruleset-native.json"))
    forward = rs.chain("forward", "inet fw")
    assert forward is not None and (forward.policy, forward.kind, forward.packets) == ("DROP", "filter", None)
    assert [(r.target, r.packets, r.spec) for r in forward.rules] == [
        ("ACCEPT", 2, "ct state established,related accept"),
        ("ACCEPT", 1, 'iifname "br0" ip saddr 10.16.0.0/24 tcp dport { 443, 5432 } accept'),
        ("REJECT", 0, "ip daddr 10.16.0.3 udp dport 53 reject with icmp admin-prohibited"),
        ("ACCEPT", 0, "meta l4proto icmp accept"),
        ("DROP", 1, "drop"),
    ]
    nat = rs.chain("prerouting", "ip nat")
    assert nat is not None and nat.rules[0].spec == 'iifname "uplink0" tcp dport 80 dnat to 10.16.0.3:80'
    # the same typed rules drive "which rule decided"
    from nslab.firewall.evidence import decisions

    found = [d.describe() for d in decisions({}, {"host": rs})]
    assert found == [
        "accepted by forward rule 1 (ct state established,related accept) in table inet fw (+2 packets)",
        'accepted by forward rule 2 (iifname "br0" ip saddr 10.16.0.0/24 tcp dport { 443, 5432 } accept)'
        " in table inet fw (+1 packets)",
        "dropped by forward rule 5 (drop) in table inet fw (+1 packets)",
    ]


def test_nft_json_of_iptables_nft_tables() -> None:
    rs = nft_parse.nft_json(read("nft-j-list-ruleset-iptables-nft.json"))
    assert [r.target for r in rs.chain("FORWARD", "ip filter").rules] == ["NAVY"]  # type: ignore[union-attr]
    navy = rs.chain("NAVY", "ip filter")
    assert navy is not None and navy.rules[-1].spec == "return"
    assert nft_parse.nft_json("").tables == {}


def test_nft_json_fib_matches_read_as_nft_writes_them() -> None:
    """rpath.sh's reverse-path check, as `nft -j` printed it (nftables 1.0.6): the rule is
    named the way `nft list ruleset` writes it, not as JSON."""
    import json

    from nslab.firewall.nft_parse import nft_json

    chain = {"family": "inet", "table": "t", "name": "pre", "type": "filter", "policy": "accept"}
    text = json.dumps(
        {
            "nftables": [
                {"table": {"family": "inet", "name": "t"}},
                {"chain": chain},
                {"rule": {"family": "inet", "table": "t", "chain": "pre", "expr": [
                    {"match": {"op": "==", "left": {"fib": {"result": "oif", "flags": ["saddr", "iif"]}},
                               "right": False}},
                    {"counter": {"packets": 3, "bytes": 252}}, {"drop": None}]}},
                {"rule": {"family": "inet", "table": "t", "chain": "pre", "expr": [
                    {"match": {"op": "==", "left": {"fib": {"result": "type", "flags": ["daddr"]}},
                               "right": "local"}},
                    {"counter": {"packets": 0, "bytes": 0}}, {"accept": None}]}},
            ]
        }
    )  # fmt: skip
    rules = nft_json(text).tables["inet t"].chains["pre"].rules
    assert [(r.spec, r.target, r.packets) for r in rules] == [
        ("fib saddr . iif oif missing drop", "DROP", 3),
        ("fib daddr type local accept", "ACCEPT", 0),
    ]
