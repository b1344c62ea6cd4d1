"""The ruleset firewalld itself built (tests/data/corpus/firewalld/: make.sh ran firewalld
1.3.3 on a private D-Bus in a fresh namespace, zones written by firewall-offline-cmd, and
kept `nft list ruleset`), loaded as a lab router's nft file (firewalld.toml). firewalld's
own words (firewalld-public.txt, firewalld-internal.txt):

    internal: interfaces eth0; services ssh, mdns, samba-client, dhcpv6-client; forward
    public:   interfaces uplink0; services ssh, dhcpv6-client; forward; masquerade;
              forward-ports port=8080:proto=tcp:toport=80:toaddr=10.8.0.10
              rich rule: family ipv4 source 198.51.100.0/24 port 9090/tcp accept

How its table inet firewalld decides (read by hand): filter_INPUT 1 established, 2 `ct
status dnat`, 3 lo, 4 invalid, 5 to filter_INPUT_ZONES (eth0: filter_IN_internal,
uplink0: filter_IN_public), 6 reject. A zone's input chain jumps its _allow chain (the
services, ports and rich rules: internal's rule 1 and public's rule 1 are `tcp dport 22
accept`; public's rule 3 the rich rule), then rule 8 accepts ICMP and rule 9 rejects with
admin-prohibited. filter_FORWARD is the same shape; filter_FWD_internal's allow chain
forwards only back out of eth0 (`forward` in a zone is forwarding within it), and its
rule 8 rejects the rest: with no policy between the zones, the LAN does not reach the
internet, masquerade or not. nat_PRE_public_allow DNATs tcp 8080 in by the uplink to
10.8.0.10:80; nat_POST_public_allow masquerades IPv4 out by the uplink.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from conftest import DATA, needs_netns
from support.corpus import Key, built, explore, nslab, row_is, shellcheck_clean

from nslab.scenario.session import LabSession

pytestmark = [needs_netns, pytest.mark.netns]

HERE = DATA / "corpus" / "firewalld"
LAB = HERE / "firewalld.toml"
RULES = HERE / "firewalld.nft-list-ruleset"
T = " in table inet firewalld"
UPLINK = "fw@198.51.100.1"  # explore's name for the fw's uplink address


def test_the_ruleset_is_firewallds_own_and_the_script_that_made_it_is_kept() -> None:
    assert "Package: firewalld\nVersion: 1.3.3-1~deb12u2\n" in (HERE / "VERSION").read_text()
    public = (HERE / "firewalld-public.txt").read_text()
    assert "port=8080:proto=tcp:toport=80:toaddr=10.8.0.10" in public
    assert (
        'rule family="ipv4" source address="198.51.100.0/24" port port="9090" protocol="tcp" accept' in public
    )
    assert re.search(r"interfaces: eth0\b", (HERE / "firewalld-internal.txt").read_text())
    shellcheck_clean(HERE / "make.sh")


def test_the_saved_listing_loads_as_the_routers_nft_file() -> None:
    r = nslab("validate", str(LAB))
    assert r.returncode == 0 and "1 ruleset file(s) loaded in a throwaway world" in r.stdout, r.stderr


# --- nslab explore ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def explored() -> dict[Key, dict[str, str]]:
    return explore(LAB)


def test_explore_the_zones_as_firewalld_built_them(explored: dict[Key, dict[str, str]]) -> None:
    f = explored
    internal_reject = "fw: rejected by filter_IN_internal rule 9 (reject with icmpx admin-prohibited)" + T
    # 8080 is forwarded in the public zone only; from the LAN it is the router's own port,
    # which zone internal does not open: its final reject
    row_is(f[("web", "fw", "tcp/8080", "v4")], "rejected", internal_reject)
    row_is(f[("web", "fw", "tcp/9090", "v6")], "rejected", internal_reject)  # the rich rule is public's
    # the LAN to the internet: filter_FWD_internal's allow chain forwards back out of eth0
    # only; no policy joins internal to public: its rule 8 rejects, both families
    fwd_reject = "fw: rejected by filter_FWD_internal rule 8 (reject with icmpx admin-prohibited)" + T
    row_is(f[("web", "the internet", "tcp/22", "v4")], "rejected", fwd_reject)
    row_is(f[("pc", "the internet", "icmp", "v6")], "rejected", fwd_reject)
    # web and pc share the LAN's bridge: the router never sees it
    row_is(f[("web", "pc", "tcp/22", "v4")], "accepted", "no firewall rule or policy decided it", "10.8.0.10")
    # the router's own traffic out: filter_OUTPUT has no rule for it (its policy accepts);
    # IPv4 leaving by the uplink is masqueraded by nat_POST_public_allow rule 1; IPv6 is not
    # (that rule is `meta nfproto ipv4`)
    masq = 'fw: translated by nat_POST_public_allow rule 1 (meta nfproto ipv4 oifname != "lo" masquerade)' + T
    row_is(f[("fw", "the internet", "tcp/22", "v4")], "accepted", masq, "198.51.100.1")
    row_is(
        f[("fw", "the internet", "tcp/22", "v4")],
        "accepted",
        "fw: accepted by filter_OUTPUT policy ACCEPT" + T,
    )
    v6 = f[("fw", "the internet", "tcp/22", "v6")]
    row_is(v6, "accepted", "fw: accepted by filter_OUTPUT policy ACCEPT" + T, "2001:db8:f::1")
    assert "masquerade" not in v6["decided_by"], v6


def test_explore_names_the_zones_rule_that_accepted(explored: dict[Key, dict[str, str]]) -> None:
    # in by eth0: filter_INPUT rule 5 -> filter_INPUT_ZONES -> filter_IN_internal, whose
    # allow chain's rule 1 is the ssh service; a ping: filter_IN_internal rule 8
    ssh = explored[("web", "fw", "tcp/22", "v4")]
    row_is(ssh, "accepted", "fw: accepted by filter_IN_internal_allow rule 1 (tcp dport 22 accept)" + T)
    assert "PREROUTING policy" not in ssh["decided_by"], ssh
    ping = explored[("web", "fw", "icmp", "v4")]
    row_is(
        ping, "replies", "fw: accepted by filter_IN_internal rule 8 (meta l4proto { icmp, ipv6-icmp } accept)"
    )


def test_explore_the_internet_at_the_uplink(explored: dict[Key, dict[str, str]]) -> None:
    f = explored
    # 8080 in by uplink0: nat_PRE_public_allow DNATs it to web:80; filter_FORWARD rule 2
    # (`ct status dnat accept`) forwards it; web sees the internet's own address
    row_is(
        f[("the internet", UPLINK, "tcp/8080", "v4")],
        "accepted",
        "fw: accepted by filter_FORWARD rule 2 (",
    )
    assert f[("the internet", UPLINK, "tcp/8080", "v4")]["seen_from"] == "198.51.100.2"
    # the rich rule: 198.51.100.2 is in 198.51.100.0/24: filter_IN_public_allow rule 3
    row_is(f[("the internet", UPLINK, "tcp/9090", "v4")], "accepted", "filter_IN_public_allow rule 3 (")
    # public's ssh service: filter_IN_public_allow rule 1
    row_is(f[("the internet", UPLINK, "tcp/22", "v4")], "accepted", "filter_IN_public_allow rule 1 (")


# --- by hand, in one built lab: the internet at the uplink, rule coverage --------------------------


@pytest.fixture(scope="module")
def session() -> Iterator[LabSession]:
    with built(LAB, [("web", 80), ("fw", 9090)]) as session:
        yield session


def test_the_internet_comes_in_by_the_forward_port_and_the_rich_rule(session: LabSession) -> None:
    # 8080 at the uplink lands on web:80, from the internet's own 198.51.100.2 (no SNAT in)
    assert session.connect("the internet", "the uplink", "tcp", 8080).outcome.words() == "accepted"
    assert session.seen_by("web", "tcp", 80) == ["198.51.100.2"]
    assert session.connect("the internet", "the uplink", "tcp", 9090).outcome.words() == "accepted"
    # 80 at the uplink is the router's own port, which zone public does not open: rule 9
    refused = session.connect("the internet", "the uplink", "tcp", 80)
    assert refused.outcome.words() == 'rejected with "admin-prohibited" (from 198.51.100.1)'


def test_rule_coverage_counts_firewallds_rules(session: LabSession) -> None:
    assert session.connect("the internet", "the uplink", "tcp", 9090).outcome.words() == "accepted"
    session.coverage.end(session.w, "firewalld")
    (found,) = session.coverage.as_json()
    assert "note" not in found, found["note"]
    lines = RULES.read_text().splitlines()
    rich = lines.index("\t\tip saddr 198.51.100.0/24 tcp dport 9090 accept") + 1
    hits = {r["line"]: r["hits"] for r in found["rules"]}
    assert hits[rich] >= 1, hits
