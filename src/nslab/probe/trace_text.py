"""The text of `nft monitor trace`, parsed: each traced packet's way through a place's
base chains (a Trace), and how a flow's first packet is known in it (a Key). What the
rules a Trace met decide is nslab.probe.trace's (Tracer, Place)."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from nslab.firewall.sources import listed_text

TABLE = "nslab_trace"  # nslab's own table that marks the packets to trace
_LINE = re.compile(r"trace id (\w+) (\w+) (\S+) (\S+) (packet|rule|policy|verdict)\b:? ?(.*)")


@dataclass(frozen=True)
class Key:
    """How a flow's first packet is known in a trace: TCP and UDP by their addresses and
    ports (Linux gives two connections to different destinations the same source port,
    measured: the port alone is not enough), an echo request by its identifier."""

    proto: str  # tcp, udp, icmp
    sport: int = 0
    ident: int = 0  # icmp echo identifier
    src: str = ""
    dst: str = ""
    dport: int = 0
    # an answer's first packet (a SYN-ACK, a reset, an echo reply, a datagram back): its
    # addresses and ports are the flow's the other way round (`asked` gives the flow's)
    reply: bool = False

    @property
    def asked(self) -> Key:
        """The flow an answer answers, as its first packet is known (Key.reply)."""
        if self.proto == "icmp":
            return Key("icmp", 0, self.ident)
        return Key(self.proto, self.dport, 0, self.dst, self.src, self.sport)

    @property
    def loose(self) -> tuple[str, int, int, int]:
        """Without the addresses (NAT may have changed them by the time a place sees it)."""
        return (self.proto, self.sport, self.dport, self.ident)

    def same_packet(self, earlier: Key) -> bool:
        """Whether this is `earlier`'s packet at a later chain of the same place: a DNAT
        changes its destination, an SNAT its source; its protocol, source port and echo
        identifier stay."""
        return (self.proto, self.sport, self.ident, self.reply) == (
            earlier.proto,
            earlier.sport,
            earlier.ident,
            earlier.reply,
        )


_BITS = {
    "fin": 0x01,
    "syn": 0x02,
    "rst": 0x04,
    "psh": 0x08,
    "ack": 0x10,
    "urg": 0x20,
    "ecn": 0x40,
    "cwr": 0x80,
}


def _flags(headers: str) -> set[str]:
    """A traced TCP packet's flags: nft 1.0.6 writes a SYN's `tcp flags == syn` but a
    SYN-ACK's `tcp flags == 0x12` (measured); others `syn | ack`."""
    m = re.search(r"\btcp flags == (\S+(?: \| \S+)*)", headers)
    if m is None:
        return set()
    words = set(m[1].split(" | "))
    if len(words) == 1 and m[1].startswith("0x"):
        value = int(m[1], 16)
        return {name for name, bit in _BITS.items() if value & bit}
    return words


def packet_key(headers: str) -> Key | None:
    """The key of a traced packet from its `packet:` line: a flow's first packet, or an
    answer's (a SYN-ACK, a reset, an echo reply: Key.reply; a UDP datagram is keyed as
    sent, the Tracer tries it both ways); None for anything else (a later packet, an ICMP
    error, neighbour discovery)."""
    m = re.search(r"\b(tcp|udp) sport (\d+) \1 dport (\d+)", headers)
    src, dst = (re.search(rf"\bip6? {w}addr (\S+)", headers) for w in ("s", "d"))
    if m:
        bits = _flags(headers)
        # a SYN opens the flow; a SYN-ACK or a reset answers it; anything else is later
        answer = m[1] == "tcp" and ({"syn", "ack"} <= bits or "rst" in bits)
        if m[1] == "tcp" and bits != {"syn"} and not answer:
            return None
        return Key(m[1], int(m[2]), 0, src[1] if src else "", dst[1] if dst else "", int(m[3]), answer)
    echo = re.search(r"\bicmp type echo-(request|reply)\b.*?\bicmp id (\d+)", headers)
    if echo:  # the identifier alone: one per probe of a batch
        return Key("icmp", 0, int(echo[2]), reply=echo[1] == "reply")
    # nft 1.0.9 prints an ICMPv6 echo's identifier and sequence as one "parameter-problem"
    # word (identifier << 16 | sequence), measured; newer ones say "icmpv6 id N"
    echo6 = re.search(
        r"\bicmpv6 type echo-(request|reply)\b.*?\bicmpv6 (id|parameter-problem) (\d+)", headers
    )
    if echo6:
        ident = int(echo6[3]) >> 16 if echo6[2] == "parameter-problem" else int(echo6[3])
        return Key("icmp", 0, ident, reply=echo6[1] == "reply")
    return None


@dataclass
class Trace:
    """One packet's way through one base chain after another in one place: its headers
    (the flow it belongs to), then the rules it met."""

    key: Key | None
    events: list[tuple[str, str, str, str, str]] = field(default_factory=list)  # family table chain kind text
    nd: str = ""  # a neighbour discovery packet's headers ("" for any other packet)
    to: tuple[str, int] = ("", 0)  # the packet's destination address and port as this chain saw it
    ipid: int = 0  # its IPv4 identification (0: IPv6): no NAT or hop changes it


_ND = re.compile(r"\bicmpv6 type nd-neighbor-(solicit|advert)\b")


def solicited_node(address: str) -> str:
    """The multicast address a neighbour solicitation for `address` goes to (RFC 4291)."""
    low = ipaddress.IPv6Address(address).packed[-3:]
    return str(ipaddress.IPv6Address(bytes.fromhex("ff0200000000000000000001ff") + low))


def concerns(nd: str, address: str) -> bool:
    """Whether neighbour discovery headers are about `address` (from it, to it, or
    soliciting it): the discovery a flow to `address` needed on its last hop."""
    if ":" not in address:
        return False
    return any(f"addr {a} " in nd + " " for a in (address, solicited_node(address)))


# nslab's own marks (START, END) and anything else on loopback: never a probe's packet
_LOOPBACK = re.compile(r"\bip6? [sd]addr (127\.\S+|::1) ")


def parse(text: str) -> list[Trace]:
    """The traces of a monitor's text. A trace id is not one packet: the kernel derives
    it from the packet buffer, and a buffer freed and used again by a later packet (the
    end mark's ping, a reply) gives that packet the same id. Every base chain a packet
    enters starts with its headers (a `packet:` line), so a new packet line under an id
    starts a new trace, which continues the last one only where it is plainly the same
    packet further on (the same protocol, source port or echo identifier: NAT may have
    changed its addresses or destination port). Merged by id, a flow was credited with
    the rules of the end mark's ping (`iif "lo" accept`), and a flow whose buffer was
    used before lost its own rules; which flows met either changed from run to run."""
    out: list[Trace] = []
    last: dict[str, Trace] = {}
    for raw in text.splitlines():
        m = _LINE.match(raw.strip())
        if m is None:
            continue
        ident, family, table, chain, kind, rest = m.groups()
        if kind == "packet":
            key = None if _LOOPBACK.search(rest + " ") else packet_key(rest)
            prev = last.get(ident)
            if key is not None and prev is not None and prev.key is not None and key.same_packet(prev.key):
                key = prev.key
            nd = _ND.search(rest)
            daddr, dport = (
                re.search(r"\bip6? daddr (\S+)", rest),
                re.search(r"\b(?:tcp|udp) dport (\d+)", rest),
            )
            to = (daddr[1] if daddr else "", int(dport[1]) if dport else 0)
            ipid = re.search(r"\bip id (\d+)", rest)
            last[ident] = Trace(key, nd=rest if nd else "", to=to, ipid=int(ipid[1]) if ipid else 0)
            out.append(last[ident])
            continue
        trace = last.get(ident)
        if trace is None or table == TABLE:
            continue
        if kind in ("rule", "policy"):
            trace.events.append((family, table, chain, kind, rest))
    return out


def rule_text(rest: str) -> str:
    """A traced rule as nft lists it (`nft -a list ruleset`), without its handle, verdict
    and the counts of the moment: `tcp dport 7 counter accept`."""
    return listed_text(rest.partition(" # handle ")[0])


def answers_to(
    keys: Sequence[Key],
    traces: Sequence[Trace],
    owner: Mapping[int, int],
    landed: Sequence[tuple[str, int] | None] = (),
) -> dict[int, int]:
    """Which flow each answer's trace answers (by its position in `traces`; `owner`: the
    traces known as a flow's own): a SYN-ACK, reset or echo reply (Key.reply), or a UDP
    datagram that is no flow's own but one's the other way round, by the flow's key;
    else, its addresses changed by NAT on the way back, by its ports or echo identifier
    alone where they name one flow; else from where a DNAT sent the flow (`landed`: its
    address and port) straight back to its source (a hairpin's answer: the destination
    answers from its own address, which the flow never called)."""
    exact: dict[Key, int] = {k: i for i, k in enumerate(keys)}
    by_key: dict[tuple[str, int, int, int], list[int]] = {}
    for i, k in enumerate(keys):
        by_key.setdefault(k.loose, []).append(i)
    out: dict[int, int] = {}
    for n, trace in enumerate(traces):
        key = trace.key
        if key is None or n in owner or key in exact or not (key.reply or key.proto == "udp"):
            continue
        asked = key.asked
        if asked in exact:
            out[n] = exact[asked]
        elif key.reply and len(by_key.get(asked.loose, [])) == 1:
            out[n] = by_key[asked.loose][0]
        else:
            sent = [
                i
                for i, to in enumerate(landed)
                if to == (key.src, key.sport) and (keys[i].src, keys[i].sport) == (key.dst, key.dport)
            ]
            if len(sent) == 1:
                out[n] = sent[0]
    return out
