"""Port-forwards through Debian's examples/nat.nft seen from a source host with a ruleset of
its own, and a forward to an address no host holds (tests/labs/debvoid.toml), as a new
user found them on Debian's examples. Every expected row is read from the files by hand:

debvoid-nat.nft, table ip nat:
  prerouting  rule 1 (line 10, with its continuation) DNATs every tcp 1000/2000/3000 that
              enters r: 1000 to srv1 (10.2.0.10):1234, 2000 to srv2 (10.2.0.20):2345,
              3000 to 10.2.0.13:3456, an address no host holds
  postrouting rule 1 (line 17) SNATs pc (10.2.0.50) to 198.51.100.1 on every interface
debvoid-pc.nft: pc's output chain accepts everything (policy accept, one `counter`): it
  its policy accepts pc's packets, and its trace is one more place that saw them.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator

import pytest
from conftest import ROOT, host_snapshot, needs_netns
from support.labs import provisioned

from nslab.reach import explore as exploring
from nslab.reach.flows import Flow
from nslab.reach.verdict import Verdict

LAB = ROOT / "tests" / "labs" / "debvoid.toml"
DNAT = (
    "r: translated by prerouting rule 1 (dnat tcp dport map { 1000 : 10.2.0.10, 2000 : 10.2.0.20,"
    " 3000 : 10.2.0.13} : tcp dport map { 1000 : 1234, 2000 : 2345, 3000 : 3456 }) in table ip nat"
    " at debvoid-nat.nft:10"
)
SNAT = (
    "r: translated by postrouting rule 1 (snat ip saddr map { 10.2.0.50 : 198.51.100.1 })"
    " in table ip nat at debvoid-nat.nft:17"
)
# the forwards from pc, to r and to a host the map does not send them to, and flows to the
# ports they land on (explore listens on every port it probes, in every place)
FLOWS = [
    Flow("pc", "r", "tcp", 1000),
    Flow("pc", "the internet", "tcp", 1000),
    Flow("pc", "r", "tcp", 2000),
    Flow("pc", "srv1", "tcp", 1234),
    Flow("pc", "srv2", "tcp", 2345),
    Flow("pc", "r", "tcp", 3000),
    Flow("the internet", "r", "tcp", 3000, at="198.51.100.1"),
    Flow("pc", "srv1", "tcp", 3456),
]
ARP = (
    "neighbour resolution failed: r got no ARP answer for 10.2.0.13 (read as dropped however late"
    " the kernel's host-unreachable comes: it answers when ARP gives up)"
)


@pytest.fixture(scope="module")
def explored() -> Iterator[dict[tuple[str, str, int], Verdict]]:
    before = host_snapshot()
    with provisioned(LAB, ping_wait=1, probe_wait=1) as session:
        yield {(m.flow.src, m.flow.dst, m.flow.port): m.verdict for m in exploring.explore(session, FLOWS)}
    assert host_snapshot() == before


@pytest.mark.netns
@needs_netns
def test_a_forward_from_a_host_with_a_ruleset_lands_where_the_map_sends_it(
    explored: dict[tuple[str, str, int], Verdict],
) -> None:
    """pc -> r tcp/1000 and pc -> the internet tcp/1000 (routed through r, whose DNAT
    matches no interface): r's map sends both to srv1:1234, which sees them from
    198.51.100.1 (the SNAT). pc's own trace (its output chain, before r) still sees the
    destination pc sent to: explore took it for the landing place and said "landed at
    r:1000" and "the internet:1000", seen from nobody."""
    for dst in ("r", "the internet"):
        got = explored[("pc", dst, 1000)]
        assert (got.outcome, got.landed_at, got.seen_from, got.reached) == (
            "accepted",
            "srv1:1234",
            "198.51.100.1",
            "srv1",
        ), got
        # pc's output policy accepted it on its way out (named too; not what this is about)
        assert got.decided_by.startswith(f"{DNAT}; {SNAT}"), got
    two = explored[("pc", "r", 2000)]
    assert (two.outcome, two.landed_at, two.seen_from, two.reached) == (
        "accepted",
        "srv2:2345",
        "198.51.100.1",
        "srv2",
    ), two
    # sent straight to srv1: nothing translated it, nothing moved it
    direct = explored[("pc", "srv1", 1234)]
    assert (direct.outcome, direct.landed_at, direct.seen_from) == ("accepted", None, "10.2.0.50"), direct


@pytest.mark.netns
@needs_netns
def test_a_forward_to_an_address_no_host_holds_names_its_unresolved_neighbour(
    explored: dict[tuple[str, str, int], Verdict],
) -> None:
    """tcp/3000: r's map sends it to 10.2.0.13, which no host holds. r forwards the SYN,
    ARP gets no answer, and ~3 s later the kernel answers with a host-unreachable
    (measured: 2.8 to 3.1 s): explore said "rejected" (or "dropped", by its timing) with
    "its answers are not traced, so what dropped them is not known". It is dropped (as a
    scenario of the same flow says), and the note names the neighbour r could not resolve."""
    for src in ("pc", "the internet"):
        got = explored[(src, "r", 3000)]
        assert (got.outcome, got.landed_at, got.seen_from) == ("dropped", None, None), got
        assert got.decided_by == f"no firewall rule or policy dropped its first packet ({DNAT}); {ARP}", got


@pytest.mark.netns
@needs_netns
@pytest.mark.parametrize("wait", [1.0, 4.0])
def test_a_scenario_of_that_forward_says_what_explore_says(wait: float) -> None:
    """`When the internet connects to the uplink on tcp port 3000`: dropped whether its
    probe gave up before the kernel's host-unreachable came (1 s) or after (4 s: it read
    "rejected with host-unreachable" then), naming the neighbour as explore does. It read
    "dropped; no rule or policy dropped its packets (r: translated by ...)"."""
    before = host_snapshot()
    with provisioned(LAB, counting=True, ping_wait=1, probe_wait=wait) as session:
        got = session.connect("the internet", "the uplink", "tcp", 3000)
    assert host_snapshot() == before
    assert got.outcome.outcome == "dropped", got.why()
    assert got.why().startswith("dropped; "), got.why()
    assert DNAT in got.why() and got.why().endswith(f"; {ARP}"), got.why()


LEGACY = ROOT / "tests" / "labs" / "debvoid-legacy.toml"


@pytest.mark.netns
@needs_netns
@pytest.mark.skipif(
    shutil.which("iptables-legacy") is None, reason="needs iptables-legacy (apt-get install iptables)"
)
def test_counted_alone_a_forward_to_nobody_names_its_unresolved_neighbour() -> None:
    """The same forward in iptables-legacy (debvoid-nat.rules), counted alone: the
    translating place's conntrack says where it was sent, and r's neighbour table that
    10.2.0.13 never answered. It read "rejected" or "dropped" by its timing, with "no
    firewall rule or policy decided it"."""
    wanted = [Flow("pc", "r", "tcp", 3000), Flow("pc", "srv1", "tcp", 3456)]
    before = host_snapshot()
    with provisioned(LEGACY, ping_wait=1, probe_wait=1) as session:
        got = {m.flow.dst: m.verdict for m in exploring.explore(session, wanted)}["r"]
    assert host_snapshot() == before
    dnat = (
        "r: translated by PREROUTING rule 1 (-p tcp --dport 3000 -j DNAT --to-destination 10.2.0.13:3456)"
        " in table nat at debvoid-nat.rules:8"
    )
    assert (got.outcome, got.landed_at) == ("dropped", None), got
    assert got.decided_by == f"no firewall rule or policy dropped its packets ({dnat}); {ARP}", got


ONLY_DNAT = ROOT / "tests" / "labs" / "debvoid-dnat.toml"


@pytest.mark.netns
@needs_netns
def test_a_forward_to_nobody_from_a_router_with_no_chain_after_its_dnat() -> None:
    """debvoid-dnat.nft: r's only chain is the DNAT's, so no trace shows where it sent
    tcp/3000; r's conntrack does (10.2.0.13:3456), and r's neighbour table that 10.2.0.13
    never answered. It read "rejected" with "its answers are not traced"."""
    dnat = DNAT.replace("debvoid-nat.nft:10", "debvoid-dnat.nft:8")
    wanted = [Flow("the internet", "r", "tcp", 3000, at="198.51.100.1"), Flow("pc", "srv1", "tcp", 3456)]
    before = host_snapshot()
    with provisioned(ONLY_DNAT, ping_wait=1, probe_wait=1) as session:
        got = {m.flow.dst: m.verdict for m in exploring.explore(session, wanted)}["r"]
    assert host_snapshot() == before
    assert (got.outcome, got.landed_at) == ("dropped", None), got
    assert got.decided_by == f"no firewall rule or policy dropped its first packet ({dnat}); {ARP}", got


V6 = ROOT / "tests" / "labs" / "debvoid6.toml"
DNAT6 = (
    "r: translated by prerouting rule 1 (tcp dport 3000 dnat to [2001:db8:2::13]:3456)"
    " in table ip6 nat at debvoid6.nft:8"
)
ND = (
    "neighbour discovery failed: r got no answer for 2001:db8:2::13 (read as dropped however late"
    " the kernel's address-unreachable comes: it answers when discovery gives up)"
)


@pytest.mark.netns
@needs_netns
def test_over_ipv6_a_forward_to_nobody_reads_the_same_in_explore_and_a_scenario() -> None:
    """debvoid6.nft DNATs tcp 3000 to 2001:db8:2::13, which no host holds: r's discovery
    gets no answer, and the kernel's address-unreachable comes ~3 s later. With a wait
    longer than that, explore and the scenario said "rejected" (no rule dropped anything);
    both say dropped, naming the neighbour."""
    before = host_snapshot()
    with provisioned(V6, counting=True, ping_wait=1, probe_wait=4) as session:
        wanted = [Flow("pc", "r", "tcp", 3000, v6=True), Flow("pc", "srv1", "tcp", 3456, v6=True)]
        explored = {m.flow.dst: m.verdict for m in exploring.explore(session, wanted)}["r"]
        scenario = session.connect("pc", "r", "tcp", 3000, v6=True)
    assert host_snapshot() == before
    assert explored.outcome == "dropped", explored
    assert explored.decided_by == f"no firewall rule or policy dropped its first packet ({DNAT6}); {ND}"
    assert scenario.outcome.outcome == "dropped", scenario.why()
    assert scenario.why().startswith("dropped; ") and scenario.why().endswith(f"; {ND}"), scenario.why()
