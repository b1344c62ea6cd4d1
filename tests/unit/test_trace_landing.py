"""Which flow a packet in another place is, after a port-forward sent it there: pure logic on
a real capture (tests/data/trace-dnat-r.txt and -srv2.txt: `nft -a monitor trace` in router
r, running Debian's examples/nat.nft, and in srv2, running workstation.nft, for pc's probes
to 10.2.0.1:2000 and 198.51.100.1:2000, which r DNATs to srv2:2345 and SNATs to
198.51.100.1, and to 10.2.0.1:1000, which it DNATs to srv1:1234).

The packets srv2 saw have neither the probes' destination nor their source: they are
known by where r sent them."""

from __future__ import annotations

from dataclasses import dataclass

from conftest import DATA

from nslab.firewall.evidence import Decision
from nslab.probe import trace
from nslab.probe.trace import Tracer

# pc's three probes, as explore keys them (source port from the capture)
KEYS = [
    trace.Key("tcp", 38676, 0, "10.2.0.50", "10.2.0.1", 2000),
    trace.Key("tcp", 38830, 0, "10.2.0.50", "198.51.100.1", 2000),
    trace.Key("tcp", 36342, 0, "10.2.0.50", "10.2.0.1", 1000),
]
DNAT = Decision("r", "ip nat", "prerouting", 1, "DNAT", "dnat ...", 1)
DROP = Decision("srv2", "inet filter", "input", 5, "DROP", "counter drop", 1)


@dataclass(frozen=True)
class Place:
    """All _assigned asks of a traced place: its PLACE:TOOL."""

    spec: str


def _traced(r: str, srv2: str) -> list[tuple[Place, trace.Trace, list[Decision | None]]]:
    """Each place's traces with what each event decided: the DNAT rule at r, the drop at
    srv2 (TracedFirewall.decision reads them from the place's ruleset; here by their text)."""
    out: list[tuple[Place, trace.Trace, list[Decision | None]]] = []
    for where, text in (("r", r), ("srv2", srv2)):
        for t in trace.parse(text):
            said = [
                DNAT if e[4].startswith("dnat to ") else DROP if "drop #" in e[4] else None for e in t.events
            ]
            out.append((Place(f"{where}:nft"), t, said))
    return out


def _at_srv2(keys: list[trace.Key], r: str, srv2: str) -> dict[int, set[int | None]]:
    """The flow each of srv2's traces of a probe is (None: nobody's), by the probe's source
    port and IPv4 identification."""
    traced = _traced(r, srv2)
    owner = Tracer._assigned(keys, traced)  # type: ignore[arg-type]  # a Place is all it reads
    out: dict[int, set[int | None]] = {}
    for n, (place, t, _) in enumerate(traced):
        if place.spec == "srv2:nft" and t.key is not None:
            out.setdefault(t.ipid, set()).add(owner.get(n))
    return out


R, SRV2 = ((DATA / f"trace-dnat-{where}.txt").read_text() for where in ("r", "srv2"))


def test_a_packet_a_dnat_sent_on_is_known_where_it_landed() -> None:
    # srv2 saw two probes (IPv4 ids 17028 and 9461, from 198.51.100.1 to 10.2.0.20:2345):
    # pc's to 10.2.0.1:2000 and to 198.51.100.1:2000; the probe to :1000 went to srv1
    assert _at_srv2(KEYS, R, SRV2) == {17028: {0}, 9461: {1}}


def test_flows_sent_on_alike_are_told_apart_by_the_ip_id_else_neither_is_named() -> None:
    """Linux gives connections to different destinations the same source port: two probes
    r sends on to srv2:2345 with one source port are told apart by their packets' IPv4
    identification (no NAT changes it); alike in that too, srv2's packets name neither
    flow rather than the wrong one."""
    r, srv2 = (text.replace("sport 38830", "sport 38676") for text in (R, SRV2))
    keys = [KEYS[0], trace.Key("tcp", 38676, 0, "10.2.0.50", "198.51.100.1", 2000), KEYS[2]]
    assert _at_srv2(keys, r, srv2) == {17028: {0}, 9461: {1}}
    r, srv2 = (text.replace("ip id 9461", "ip id 17028") for text in (r, srv2))
    assert _at_srv2(keys, r, srv2) == {17028: {None}}


# pc's own ruleset traced too (an accept-all output chain, as tests/labs/debvoid-pc.nft): its
# trace of the probe to 10.2.0.1:1000 (source port and IPv4 id of the r capture's, lines in
# nft 1.0.6's form) still sees the destination pc sent to, before r's DNAT
PC = (
    'trace id 0a0b0c0d inet nslab_trace out packet: oif "eth0" ip saddr 10.2.0.50 ip daddr 10.2.0.1'
    " ip dscp cs0 ip ecn not-ect ip ttl 64 ip id 27991 ip protocol tcp ip length 60 tcp sport 36342"
    " tcp dport 1000 tcp flags == syn tcp window 64240 \n"
    'trace id 0a0b0c0d inet filter output packet: oif "eth0" ip saddr 10.2.0.50 ip daddr 10.2.0.1'
    " ip dscp cs0 ip ecn not-ect ip ttl 64 ip id 27991 ip protocol tcp ip length 60 tcp sport 36342"
    " tcp dport 1000 tcp flags == syn tcp window 64240 \n"
    "trace id 0a0b0c0d inet filter output rule counter packets 0 bytes 0 # handle 2 (verdict continue)\n"
    "trace id 0a0b0c0d inet filter output policy accept \n"
)


@dataclass
class Traced:
    """A traced place as Tracer.decisions reads it: its PLACE:TOOL, its monitor's text, and
    what each event decided (the DNAT rule at r, by its text)."""

    spec: str
    text: list[str]

    def decision(self, family: str, table: str, chain: str, kind: str, rest: str) -> Decision | None:
        return DNAT if rest.startswith("dnat to ") else None


def test_where_a_forward_landed_is_not_read_from_the_trace_before_its_dnat() -> None:
    """pc -> r tcp/1000, DNAT'd by r to srv1:1234: the places' traces are read place by
    place, and pc's (listed after r's) still sees 10.2.0.1:1000. Read last, it said
    "landed at r:1000" (Debian's workstation.nft on the source host, h1 -> s2 tcp/1000:
    "landed at s2:1000"); in either order it lands at srv1:1234."""
    for order in (("r", "pc"), ("pc", "r")):
        tracer = Tracer(None, None, ())  # type: ignore[arg-type]  # decisions() runs nothing
        texts = {"r": R, "pc": PC}
        tracer.places = [Traced(f"{where}:nft", [texts[where]]) for where in order]  # type: ignore[assignment]
        tracer.decisions(KEYS)
        assert tracer.landed[2] == ("10.2.0.10", 1234), order
