"""explore's neighbour discovery over one world's batches (nslab.probe.neighbours): which
addresses' discovery each lost IPv6 flow needed, and the flows it lost (their outcome the
protocol's silent one, final: not asked again). Its own module beside explore, which holds
the probes."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from nslab.firewall.evidence import HOST, MOVES, Decision
from nslab.probe import neighbours
from nslab.probe.flow import Flow
from nslab.probe.ports import LOST, Outcome


class Discovery:
    def __init__(self, world: Callable[[], neighbours.Runs], spaces: Sequence[str | None]) -> None:
        # the world is asked for when a batch needs it: an Explorer is made before its
        # world starts (a scenario's probe spec is compared with explore's without one)
        self._world, self.spaces = world, list(spaces)
        # the drops the world's traces saw so far: a later batch's trace may see none, as
        # the neighbour's solicitations were sent already
        self.seen: list[tuple[str, Decision]] = []
        self.held6: dict[str, neighbours.Owner] | None = None  # the routers' addresses
        self.unresolved: set[str] | None = None  # the neighbour tables after this batch
        self.hops: dict[tuple[str | None, str, str], list[str]] = {}
        self.lost: set[Flow] = set()
        # flows a DNAT sent to an address ARP (IPv6: discovery) could not resolve: the note
        # naming it
        self.arp: dict[Flow, str] = {}

    def batch(self) -> None:
        """A new batch was probed: the neighbour tables are read again."""
        self.unresolved = None

    def needed(self, flow: Flow, got: Outcome, ns: str | None, src: str, dst: str) -> list[str]:
        """The addresses whose neighbour discovery a lost IPv6 flow needed: its destination,
        every router on its way and its source (the answer's last hop resolves it), the
        latter two where some namespace holds them unresolved: a solicitation names a
        solicited-node group, which addresses ending alike share."""
        if not flow.v6 or got.outcome not in LOST:
            return [dst]
        if self.unresolved is None:
            self.unresolved = neighbours.unresolved_anywhere(self._world(), self.spaces)
        if not self.unresolved:  # no discovery failed anywhere: no way to follow
            return [dst]
        if self.held6 is None:
            self.held6 = neighbours.owners(self._world(), self.spaces)
        way = (ns, src, dst)
        if way not in self.hops:  # a flow's ports share its way: asked once
            self.hops[way] = neighbours.next_hops(self._world(), self.held6, *way)
        return [dst, *(a for a in (*self.hops[way], src) if a in self.unresolved)]

    def outcome(self, flow: Flow, got: Outcome, found: Sequence[Decision], to: str = "") -> str:
        """One outcome for a flow neighbour discovery lost, whatever the kernel's timing.
        `to`: the address a DNAT sent the flow to (the trace's, or conntrack's)."""
        if not flow.v6 or not neighbours.decided(found, got.outcome, got.icmp, got.error):
            return self._arp(flow, got, found, to) if to else got.outcome
        self.lost.add(flow)
        return neighbours.SILENT[flow.proto]

    def _arp(self, flow: Flow, got: Outcome, found: Sequence[Decision], to: str) -> str:
        """A flow a DNAT sent to an address no host answers ARP for (Debian's nat.nft
        map with an entry for a server that is down): the translating place forwards its
        SYN, ARP gives up after ~3 s and the kernel answers with a host-unreachable, so a
        probe that waited less read "dropped", one that waited longer "rejected" (explore
        and a scenario of the same flow disagreed). Only where no rule dropped or rejected
        it (an IPv4 host-unreachable may be a rule's) and the translating place's
        neighbour table holds that address unresolved: read as the silent loss, naming it.
        IPv6 alike, where no rule dropped the discovery (that is the trace's: `decided`)."""
        silent = neighbours.SILENT[flow.proto]
        if got.outcome != silent and not neighbours.answered(got.outcome, got.icmp, got.error):
            return got.outcome
        if any(d.drops and not d.nd for d in found):
            return got.outcome
        where = next((d.where for d in found if d.target in MOVES and not d.nd), None)
        if where is None:
            return got.outcome
        hop = neighbours.unresolved(self._world(), None if where == HOST else where, to)
        if hop is None:
            return got.outcome
        self.lost.add(flow)
        self.arp[flow] = neighbours.arp_failed(where, hop, silent)
        return silent

    def note(self, flow: Flow, outcome: str) -> str:
        """What a flow neighbour discovery lost says after its deciding rules ("" for
        one that ARP lost: its note is said in their place, `arp`)."""
        return f" {neighbours.because(outcome)}" if flow in self.lost and flow not in self.arp else ""
