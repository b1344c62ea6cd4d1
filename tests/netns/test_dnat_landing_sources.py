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

from collections.abc import Iterator

import pytest
from conftest import ROOT, host_snapshot, needs_netns

from nslab.config import Settings
from nslab.reach import explore as exploring
from nslab.reach.flows import Flow
from nslab.reach.verdict import Verdict
from nslab.scenario.session import LabSession

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
]


@pytest.fixture(scope="module")
def explored() -> Iterator[dict[tuple[str, str, int], Verdict]]:
    before = host_snapshot()
    session = LabSession.open(Settings(lab=str(LAB), ping_wait=1, probe_wait=1))
    try:
        session.use_lab(None)
        session.new_world()
        session.provision()
        yield {(m.flow.src, m.flow.dst, m.flow.port): m.verdict for m in exploring.explore(session, FLOWS)}
    finally:
        session.close()
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
