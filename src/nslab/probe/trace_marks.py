"""What nslab's trace table marks for `nft monitor trace` (nslab.probe.trace): which
packets of a flow are traced, and the table that marks them."""

from __future__ import annotations

from nslab.probe.trace_text import TABLE

# A flow's first packet only (a SYN, an echo request; UDP's every datagram, as its first
# has no mark): its verdict is the first packet's (Tracer.decisions), and tracing every
# packet made the kernel's events outrun nft (a 20-host lab's 9,240 flows at once: "We lost
# some netlink events!"). Neighbour discovery too (a few packets a neighbour): a flow lost
# because a rule dropped the solicitations about its destination is named by them (tracing
# first packets only had lost that: "no firewall rule or policy decided it").
# The answer's first packet too (a SYN-ACK, a reset, an echo reply): a flow whose answer a
# rule or policy dropped on its way back (a source host's input chain with a drop policy
# and no `ct state established` rule) read "no firewall rule or policy decided it", and
# one that got through did not name the rule that let its answer in.
# They double what nft formats: a 20-host lab's 9,889 flows took 35-37 s against 17-20 s
# (measured, the same run), so `nslab explore` traces answers only for the flows their
# own packets left undecided (Tracer's `answers`).
FIRST = (
    "tcp flags & (syn | ack) == syn meta nftrace set 1; meta l4proto udp meta nftrace set 1; "
    "icmp type echo-request meta nftrace set 1; icmpv6 type echo-request meta nftrace set 1; "
    "icmpv6 type { nd-neighbor-solicit, nd-neighbor-advert } meta nftrace set 1;"
)
ANSWERS = (
    "tcp flags & (syn | ack) == syn | ack meta nftrace set 1; tcp flags & rst == rst meta nftrace set 1; "
    "icmp type echo-reply meta nftrace set 1; icmpv6 type echo-reply meta nftrace set 1;"
)


def trace_table(answers: bool = True) -> str:
    """nslab's table that marks what to trace: first packets, and their answers'."""
    marks = FIRST + (" " + ANSWERS if answers else "")
    return (
        f"table inet {TABLE} {{\n"
        f"  chain pre {{ type filter hook prerouting priority -350; {marks} }}\n"
        f"  chain out {{ type filter hook output priority -350; {marks} }}\n"
        "}\n"
    )
