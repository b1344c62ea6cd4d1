"""Port-forwards that land on another host, as a new user found them on Debian's own nftables
examples (tests/labs/debmap.toml): router r runs examples/nat.nft, whose one DNAT rule
sends tcp 1000 and 3000 to srv1 (no firewall) and 2000 to srv2, with the ports in a second
map (1000 -> 1234, 2000 -> 2345, 3000 -> 3456); srv2 runs the unmodified workstation.nft,
which drops every new connection. Every expected row is read from the two files by hand:

debmap-nat.nft, table ip nat:
  prerouting  rule 1 (line 14, with its continuation) DNATs every tcp 1000/2000/3000 that
              enters r, whatever its address or interface
  postrouting rule 1 (line 28) SNATs 10.2.0.10 and 10.2.0.50 (pc) to 198.51.100.1, on every
              interface: pc's forwarded flows reach srv1 and srv2 from 198.51.100.1
debmap-workstation.nft, table inet filter, input: 1 iif lo, 2 established/related, 3 and 4
  ICMPv6, 5 (line 23) `counter drop`: a new tcp connection meets rule 5.
"""

from __future__ import annotations

import shutil

import pytest
from conftest import ROOT, host_snapshot, needs_netns
from support.corpus import Key, explore
from support.labs import provisioned

from nslab.lab import load_lab
from nslab.reach import explore as exploring
from nslab.reach import flows
from nslab.reach.flows import Flow

LAB = ROOT / "tests" / "labs" / "debmap.toml"
UPLINK = "r@198.51.100.1"  # explore's name for r's uplink address

# the rules in the files' own words, where they wrote them (line 14 continues on line 15)
DNAT = (
    "r: translated by prerouting rule 1 (dnat tcp dport map { 1000 : 10.2.0.10, 2000 : 10.2.0.20,"
    " 3000 : 10.2.0.10} : tcp dport map { 1000 : 1234, 2000 : 2345, 3000 : 3456 }) in table ip nat"
    " at debmap-nat.nft:14"
)
SNAT = (
    "r: translated by postrouting rule 1 (snat ip saddr map { 10.2.0.10 : 198.51.100.1, 10.2.0.50 :"
    " 198.51.100.1 }) in table ip nat at debmap-nat.nft:28"
)
SRV2_DROP = "srv2: dropped by input rule 5 (counter drop) in table inet filter at debmap-workstation.nft:23"


def test_the_ports_the_map_lands_on_are_the_labs() -> None:
    """The second map's values are where the forwards land: explore listens there (it
    found the first map's keys only, so a working forward to srv1:1234 read "refused")."""
    assert flows.lab_ports(load_lab(LAB)) == [
        ("tcp", 1000), ("tcp", 1234), ("tcp", 2000), ("tcp", 2345), ("tcp", 3000), ("tcp", 3456),
    ]  # fmt: skip


@pytest.fixture(scope="module")
def explored() -> dict[Key, dict[str, str]]:
    return explore(LAB)


@pytest.mark.netns
@needs_netns
def test_a_forward_dropped_where_it_landed_names_both_places(explored: dict[Key, dict[str, str]]) -> None:
    """tcp/2000 to r: r's DNAT sends it to srv2:2345 (pc's, SNAT'd on the way), where
    workstation.nft's input rule 5 drops it. Explore read the trace of r only and said
    "dropped: no firewall rule or policy decided it"."""
    pc = explored[("pc", "r", "tcp/2000", "v4")]
    assert (pc["outcome"], pc["landed_at"]) == ("dropped", "srv2:2345"), pc
    assert pc["decided_by"] == f"{DNAT}; {SNAT}; {SRV2_DROP}", pc
    # the internet's, in by the uplink's address: 198.51.100.2 is in no SNAT map
    net = explored[("the internet", UPLINK, "tcp/2000", "v4")]
    assert (net["outcome"], net["landed_at"]) == ("dropped", "srv2:2345"), net
    assert net["decided_by"] == f"{DNAT}; {SRV2_DROP}", net
    # srv2 sent to directly: dropped where it was sent, nothing translated it
    direct = explored[("pc", "srv2", "tcp/2345", "v4")]
    assert (direct["outcome"], direct["landed_at"], direct["decided_by"]) == ("dropped", None, SRV2_DROP)


@pytest.mark.netns
@needs_netns
def test_a_forward_in_the_map_lands_on_a_listener(explored: dict[Key, dict[str, str]]) -> None:
    """tcp/1000 and 3000 land on srv1's 1234 and 3456, which no firewall guards: accepted
    there (it read "refused at srv1:1234": nothing listened on 1234)."""
    for port, landed in ((1000, "srv1:1234"), (3000, "srv1:3456")):
        net = explored[("the internet", UPLINK, f"tcp/{port}", "v4")]
        assert (net["outcome"], net["landed_at"], net["seen_from"]) == ("accepted", landed, "198.51.100.2")
        assert net["decided_by"] == DNAT, net
        pc = explored[("pc", "r", f"tcp/{port}", "v4")]
        assert (pc["outcome"], pc["landed_at"], pc["seen_from"]) == ("accepted", landed, "198.51.100.1")
        assert pc["decided_by"] == f"{DNAT}; {SNAT}", pc


@pytest.mark.netns
@needs_netns
def test_a_hairpin_forward_says_its_answer_was_not_traced(explored: dict[Key, dict[str, str]]) -> None:
    """srv2 -> r tcp/1000: r DNATs it to srv1:1234 on srv2's own network and does not SNAT
    10.2.0.20, so srv1 answers srv2 straight from 10.2.0.10, an address srv2 never called:
    not established for srv2, whose input rule 5 drops it. Only first packets are traced,
    so nslab names the DNAT and says the answer's fate is not known (it said "no firewall
    rule or policy decided it")."""
    row = explored[("srv2", "r", "tcp/1000", "v4")]
    assert (row["outcome"], row["landed_at"]) == ("dropped", None), row
    assert row["decided_by"] == (
        f"no firewall rule or policy dropped its first packet ({DNAT}); its answers are not traced,"
        " so what dropped them is not known"
    ), row


# --- where nft cannot trace: iptables-legacy, each flow counted alone ------------------------

LEGACY = ROOT / "tests" / "labs" / "debmap-legacy.toml"


@pytest.mark.netns
@needs_netns
@pytest.mark.skipif(
    shutil.which("iptables-legacy") is None, reason="needs iptables-legacy (apt-get install iptables)"
)
def test_counted_alone_a_forward_says_where_it_landed() -> None:
    """The same forwards in iptables-legacy (debmap-nat.rules, debmap-workstation.rules):
    counters around each flow alone, and the translating place's conntrack for where it
    landed. Before, a counted flow's landed_at held the address it left from."""
    lab = load_lab(LEGACY)
    # the forwards, and flows to the ports they land on (explore listens on every port it
    # probes, in every place: a full explore's flows hold them, as they are the lab's ports)
    wanted = [Flow("pc", "r", "tcp", p) for p in (1000, 2000)] + [
        Flow("pc", "srv1", "tcp", 1234),
        Flow("pc", "srv2", "tcp", 2345),
    ]
    assert set(wanted) <= set(flows.derive(lab))
    before = host_snapshot()
    with provisioned(LEGACY, ping_wait=1, probe_wait=1) as session:
        got = {m.flow.port: m.verdict for m in exploring.explore(session, wanted) if m.flow.dst == "r"}
    assert host_snapshot() == before
    dnat = (
        "r: translated by PREROUTING rule {n} (-p tcp --dport {port} -j DNAT --to-destination {to})"
        " in table nat at debmap-nat.rules:{line}"
    )
    snat = (
        "r: translated by POSTROUTING rule 1 (-s 10.2.0.50 -j SNAT --to-source 10.2.0.1)"
        " in table nat at debmap-nat.rules:9"
    )
    # 1000: DNAT'd to srv1:1234, which listens; SNAT'd to r's own 10.2.0.1 (srv1 answers r)
    ok = got[1000]
    assert (ok.outcome, ok.landed_at, ok.from_address, ok.to_address) == (
        "accepted",
        "srv1:1234",
        "10.2.0.50",
        "10.2.0.1",
    )
    assert ok.decided_by == "; ".join((dnat.format(n=1, port=1000, to="10.2.0.10:1234", line=7), snat))
    # 2000: DNAT'd to srv2:2345, whose INPUT rule 3 drops it
    lost = got[2000]
    assert (lost.outcome, lost.landed_at) == ("dropped", "srv2:2345")
    assert lost.decided_by == "; ".join(
        (
            dnat.format(n=2, port=2000, to="10.2.0.20:2345", line=8),
            snat,
            "srv2: dropped by INPUT rule 3 (-j DROP) at debmap-workstation.rules:8",
        )
    )
