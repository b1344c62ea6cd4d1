"""Rules written by ufw itself (tests/data/corpus/ufw/: make.sh ran ufw 0.36.2-1 in a fresh
namespace and kept iptables-save, ip6tables-save and nft list ruleset), loaded as a lab
server's firewall (ufw.toml, backend nft: ufw wrote them with iptables-nft, and nslab
reads them so). ufw's own words (ufw-status.txt):

    Default: deny (incoming), allow (outgoing), disabled (routed)
    22/tcp ALLOW IN Anywhere            443/tcp ALLOW IN 198.51.100.0/24 (IPv4 only)
    8080/tcp DENY IN Anywhere           2222/tcp LIMIT IN Anywhere

How ufw's chains decide (ufw.iptables-save, read by hand): INPUT jumps in order to
ufw-before-logging-input, ufw-before-input (1 lo, 2 established, 3-4 invalid, 5-8 ICMP
types 3, 11, 12, 8, 9 DHCP replies, 10 not-local, 11-12 mDNS/SSDP multicast, 13
ufw-user-input), ufw-after-input (Samba and DHCP ports to ufw-skip-to-policy-input, whose
rule 1 drops), ufw-after-logging-input (LOG only), ufw-reject-input, ufw-track-input; the
policy DROP decides the rest. ufw-user-input: 1 tcp 22 ACCEPT, 2 -s 198.51.100.0/24 tcp 443
ACCEPT, 3 tcp 8080 DROP, 4-5 2222's `recent` counting (6 new connections in 30 s: to
ufw-user-limit, 1 LOG, 2 REJECT), 6 2222 to ufw-user-limit-accept (1 ACCEPT). IPv6
(ufw6-*) has no 443 rule, so its 8080 DROP is ufw6-user-input rule 2.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import DATA, needs_netns
from support.corpus import Key, built, explore, nslab, row_is, shellcheck_clean

from nslab.firewall.places import firewall_tool, ruleset_tool
from nslab.lab import load_lab
from nslab.probe import ports
from nslab.scenario.session import LabSession

pytestmark = [needs_netns, pytest.mark.netns]

HERE = DATA / "corpus" / "ufw"
LAB = HERE / "ufw.toml"
UPLINK = "server@198.51.100.1"  # explore's name for the server's uplink address
UPLINK6 = "server@2001:db8:f::1"  # and for its IPv6 one


def test_the_rules_are_ufws_own_and_the_script_that_made_them_is_kept() -> None:
    assert (HERE / "VERSION").read_text().split() == ["Package:", "ufw", "Version:", "0.36.2-1"]
    status = (HERE / "ufw-status.txt").read_text()
    for line in ("22/tcp ALLOW IN Anywhere", "443/tcp ALLOW IN 198.51.100.0/24", "8080/tcp DENY IN Anywhere"):
        assert line in re.sub(r" {2,}", " ", status), status
    shellcheck_clean(HERE / "make.sh")


def test_the_saved_rules_load_as_the_servers_iptables_and_ip6tables() -> None:
    r = nslab("validate", str(LAB))
    assert r.returncode == 0 and "2 ruleset file(s) loaded in a throwaway world" in r.stdout, r.stderr


def test_the_nft_listing_of_ufws_rules_does_not_load_as_nft_and_nslab_says_where(tmp_path: Path) -> None:
    # iptables-nft keeps `-m recent` (ufw's limit) as an xtables match nft can list but not
    # load back: the first is the 2222 rule of ufw-user-input, line 152 of the listing
    listing = (HERE / "ufw.nft-list-ruleset").read_text()
    assert "xt match recent" in listing.splitlines()[151]
    (tmp_path / "ufw.nft").write_text(listing)
    lab = LAB.read_text().replace(
        'firewall = { iptables = "ufw.iptables-save", ip6tables = "ufw.ip6tables-save" }',
        'firewall = { nft = "ufw.nft" }',
    )
    (tmp_path / "lab.toml").write_text(lab)
    r = nslab("validate", "lab.toml", cwd=tmp_path)
    assert r.returncode == 2, r.stdout
    (said,) = r.stderr.strip().splitlines()
    assert said.startswith("nslab: host server's nft ruleset does not load: ufw.nft: line 152: "), said
    assert "unsupported xtables compat expression, use iptables-nft with this ruleset" in said, said


# --- nslab explore ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def explored() -> dict[Key, dict[str, str]]:
    return explore(LAB)


def test_explore_the_servers_ports_as_ufw_said(explored: dict[Key, dict[str, str]]) -> None:
    f = explored
    # `ufw allow 22/tcp`: ufw-user-input rule 1, both families
    row_is(f[("laptop", "server", "tcp/22", "v4")], "accepted", "server: accepted by ufw-user-input rule 1 (")
    row_is(
        f[("laptop", "server", "tcp/22", "v6")], "accepted", "server: accepted by ufw6-user-input rule 1 ("
    )
    # 443 is for 198.51.100.0/24 only; the laptop's 10.9.0.20 falls through every chain to
    # the INPUT policy; over IPv6 ufw wrote no 443 rule at all
    row_is(f[("laptop", "server", "tcp/443", "v4")], "dropped", "server: dropped by INPUT policy DROP")
    row_is(
        f[("laptop", "server", "tcp/443", "v6")],
        "dropped",
        "server: dropped by INPUT policy DROP in table ip6 filter",
    )
    # `ufw deny 8080/tcp`: a DROP rule of its own (rule 3; rule 2 over IPv6, no 443 there)
    row_is(f[("laptop", "server", "tcp/8080", "v4")], "dropped", "server: dropped by ufw-user-input rule 3 (")
    row_is(
        f[("laptop", "server", "tcp/8080", "v6")], "dropped", "server: dropped by ufw6-user-input rule 2 ("
    )
    # `ufw limit 2222/tcp`: one connection is far under 6 in 30 s: ufw-user-limit-accept
    row_is(
        f[("laptop", "server", "tcp/2222", "v4")],
        "accepted",
        "server: accepted by ufw-user-limit-accept rule 1 (",
    )
    # Samba's 139 is sent to the policy by ufw-after-input, through ufw-skip-to-policy-input
    row_is(
        f[("laptop", "server", "tcp/139", "v4")],
        "dropped",
        "server: dropped by ufw-skip-to-policy-input rule 1 (",
    )
    # pings: ufw-before-input rule 8 accepts ICMP type 8 (echo request)
    row_is(f[("laptop", "server", "icmp", "v4")], "replies", "server: accepted by ufw-before-input rule 8 (")
    # routed: disabled. A new TCP connection crosses FORWARD's chains (all empty of it) to
    # the FORWARD policy; a ping is let through (ufw-before-forward rule 5, type 8) but ufw
    # does no NAT, and the internet has no route back to 10.9.0.0/24: lost
    row_is(
        f[("laptop", "the internet", "tcp/443", "v4")], "dropped", "server: dropped by FORWARD policy DROP"
    )
    assert f[("laptop", "the internet", "icmp", "v4")]["outcome"] == "lost"
    # outgoing: allowed. ufw-track-output rule 1 accepts every new TCP connection out; a
    # ping matches none of ufw's output rules (track-output is TCP and UDP): the policy
    row_is(
        f[("server", "laptop", "tcp/8080", "v4")], "accepted", "server: accepted by ufw-track-output rule 1 ("
    )
    row_is(f[("server", "laptop", "icmp", "v4")], "replies", "server: accepted by OUTPUT policy ACCEPT")


def test_explore_names_ufws_rules_with_their_matches(explored: dict[Key, dict[str, str]]) -> None:
    # ufw-track-output rule 1 is `-p tcp -m conntrack --ctstate NEW -j ACCEPT`: its state
    # match is what makes it a rule for new connections
    said = explored[("server", "laptop", "tcp/22", "v4")]["decided_by"]
    assert " xt " not in said and ("--ctstate NEW" in said or "ct state new" in said), said


def test_explore_the_internet_at_the_servers_uplink(explored: dict[Key, dict[str, str]]) -> None:
    f = explored
    # the internet's 198.51.100.2 is in 198.51.100.0/24: ufw-user-input rule 2 lets it in on 443
    row_is(
        f[("the internet", UPLINK, "tcp/443", "v4")],
        "accepted",
        "server: accepted by ufw-user-input rule 2 (",
    )
    row_is(
        f[("the internet", UPLINK, "tcp/22", "v4")],
        "accepted",
        "server: accepted by ufw-user-input rule 1 (",
    )
    row_is(
        f[("the internet", UPLINK, "tcp/8080", "v4")],
        "dropped",
        "server: dropped by ufw-user-input rule 3 (",
    )
    # over IPv6 no rule allows 443 from anywhere
    row_is(f[("the internet", UPLINK6, "tcp/443", "v6")], "dropped", "server: dropped by INPUT policy DROP")


# --- by hand, in one built lab: the internet at the uplink, ufw's limit, rule coverage ------------


@pytest.fixture(scope="module")
def session() -> Iterator[LabSession]:
    with built(LAB, [("server", port) for port in (22, 443, 2222, 8080)]) as session:
        yield session


@pytest.fixture(scope="module")
def from_the_internet(session: LabSession) -> tuple[ports.Connection, ports.Connection]:
    """The internet's 443 and 8080 at the uplink, once in each process's lab (pytest-xdist
    may share this module's tests out between workers: rule coverage counts these too)."""
    return (
        session.connect("the internet", "the uplink", "tcp", 443),
        session.connect("the internet", "the uplink", "tcp", 8080),
    )


def test_the_internet_reaches_443_at_the_uplink_as_the_one_source_allowed(
    from_the_internet: tuple[ports.Connection, ports.Connection],
) -> None:
    c, refused = from_the_internet
    said = c.evidence.summary(lost=False)
    assert (
        c.outcome.outcome == "accepted"
        and "ufw-user-input rule 2 (-s 198.51.100.0/24 -p tcp -m tcp --dport 443 -j ACCEPT)" in said
    ), said
    assert refused.outcome.outcome == "dropped" and "ufw-user-input rule 3 (" in refused.evidence.summary(
        lost=True
    )


def _six_new_connections(session: LabSession) -> list[tuple[str, str]]:
    # ufw-user-input rule 4 records each new connection to 2222 by source; rule 5 sends
    # the one that makes 6 in 30 s (itself counted) to ufw-user-limit, which REJECTs it
    # with ICMP port unreachable: 5 accepted, the 6th rejected
    got = []
    for _ in range(6):
        c = session.connect("laptop", "server", "tcp", 2222)
        got.append((c.outcome.words(), c.evidence.summary(lost=c.lost)))
    return got


@pytest.fixture(scope="module")
def limited(session: LabSession) -> list[tuple[str, str]]:
    return _six_new_connections(session)


def test_ufws_limit_rejects_the_sixth_connection_in_30_seconds(limited: list[tuple[str, str]]) -> None:
    assert [words for words, _ in limited] == ["accepted"] * 5 + [
        'rejected with "port-unreachable" (from 10.9.0.10)'
    ]


def test_the_sixth_connection_is_blamed_on_ufw_user_limits_reject(limited: list[tuple[str, str]]) -> None:
    _, said = limited[5]
    assert "server: rejected by ufw-user-limit rule 2 (" in said, said


def test_rule_coverage_maps_and_counts_every_rule_ufw_wrote(
    session: LabSession, limited: object, from_the_internet: object
) -> None:
    session.coverage.end(session.w, "ufw")
    found = {f["file"]: f for f in session.coverage.as_json()}
    for name in ("ufw.iptables-save", "ufw.ip6tables-save"):
        lines = (HERE / name).read_text().splitlines()
        assert "note" not in found[name], found[name]["note"]
        assert [r["line"] for r in found[name]["rules"]] == [
            n for n, x in enumerate(lines, 1) if x.startswith("-A ")
        ]
    # this module's IPv4 probes, counted by hand: the internet's 443 once (its SYN, rule 2),
    # its 8080 once (a SYN, dropped; a retransmission may count again), and the six new
    # connections to 2222: five to ufw-user-limit-accept, the sixth to ufw-user-limit's REJECT
    lines = (HERE / "ufw.iptables-save").read_text().splitlines()
    hits = {r["line"]: r["hits"] for r in found["ufw.iptables-save"]["rules"]}

    def at(rule: str) -> int | None:
        return hits[lines.index(rule) + 1]

    assert at("-A ufw-user-input -s 198.51.100.0/24 -p tcp -m tcp --dport 443 -j ACCEPT") == 1
    assert at("-A ufw-user-input -p tcp -m tcp --dport 8080 -j DROP") >= 1
    assert at("-A ufw-user-limit-accept -j ACCEPT") == 5
    assert at("-A ufw-user-limit -j REJECT --reject-with icmp-port-unreachable") == 1


def _with_backend(tmp_path: Path, backend: str) -> Path:
    for name in ("ufw.iptables-save", "ufw.ip6tables-save"):
        (tmp_path / name).write_text((HERE / name).read_text())
    lab = tmp_path / "ufw.toml"
    lab.write_text(re.sub(r'(?m)^backend = "nft".*$', f'backend = "{backend}"', LAB.read_text()))
    return lab


@pytest.mark.parametrize(
    ("backend", "tool"), [("nft", "iptables"), ("nftables", "iptables"), ("legacy", "legacy")]
)
def test_an_iptables_file_is_read_with_the_iptables_that_loaded_it(
    tmp_path: Path, backend: str, tool: str
) -> None:
    # iptables-restore (the nf_tables one, unless the backend is legacy) loads the file in
    # every backend; read back with nft (native nftables' tool), its rules are `xt`
    # expressions in a table `ip filter`, none of the file's chains: nothing is counted
    lab = load_lab(_with_backend(tmp_path, backend))
    server = next(h for h in lab.hosts if h.name == "server")
    tools = (firewall_tool(lab, server), ruleset_tool(lab, "iptables"), ruleset_tool(lab, "ip6tables"))
    assert tools == (tool, tool, tool)
    assert ruleset_tool(lab, "nft") == "nft"  # an nft file is read with nft whatever the backend


def test_an_iptables_file_in_a_native_nftables_lab(tmp_path: Path) -> None:
    # the same server in a lab whose other hosts would use native nft: its iptables files
    # still load with iptables-nft, and should be read as such
    with built(_with_backend(tmp_path, "nftables"), [("laptop", 22)]) as session:
        out = session.connect("server", "laptop", "tcp", 22)
        said = out.evidence.summary(lost=False)
        assert session.coverage is not None
        session.coverage.end(session.w, "mixed")
    assert "ufw-track-output rule 1 (" in said and " xt " not in said, said
    (v4,) = [f for f in session.coverage.as_json() if f["file"] == "ufw.iptables-save"]
    assert "note" not in v4, v4["note"]
