"""What explore measured of one flow: its verdict (the public JSON's outcome, decided_by,
seen_from, landed_at, reached) and the flow with it, and the words of what decided it
(decided_by). Its own module so that explore and what settles its verdicts afterwards
(nslab.reach.no_route) share it without a cycle."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from nslab.firewall.evidence import MOVES, TRANSLATIONS, Decision, deciders
from nslab.probe.flow import Flow


@dataclass(frozen=True)
class Verdict:
    """What one flow measured; the public interface of `--format json` (outcome,
    decided_by, seen_from; the row adds from_address, to_address and reached). `reached`:
    the place whose listener took the flow where that is not its destination (a
    port-forward's DNAT sent it on)."""

    outcome: str
    decided_by: str = ""
    seen_from: str | None = None
    landed_at: str | None = None  # where a DNAT sent it: "sshbox:22" (None: where it was sent)
    from_address: str | None = None  # the source address the probe left from
    to_address: str | None = None  # the destination address it was sent to
    reached: str | None = None  # the place whose listener got it, where not its destination

    def as_json(self) -> dict[str, str | None]:
        return {
            "outcome": self.outcome,
            "decided_by": self.decided_by,
            "seen_from": self.seen_from,
            "landed_at": self.landed_at,
            "reached": self.reached,
        }

    @property
    def words(self) -> str:
        """`accepted at sshbox:22` for a flow a DNAT sent elsewhere, else the outcome."""
        where = self.landed_at or self.reached
        return self.outcome + (f" at {where}" if where else "")


@dataclass(frozen=True)
class Measured:
    flow: Flow
    verdict: Verdict


def decided_by(
    evidence_decisions: Sequence[Decision],
    lost: bool,
    refused: bool = False,
    *,
    first_only: bool = False,
    unresolved: str = "",
) -> str:
    """The rules that decided a flow. A conntrack "established" rule that the counters saw
    accept a flow's later packets did not decide it where another rule accepted its first
    (one the trace saw let its answer in is named as its reply's: Decision.reply).
    A dropped flow's translations are named before its drop. `first_only`: the evidence
    is its first packet's (the trace), so a lost forward no rule dropped says what is not
    known: its answer may have come back another way and been dropped there. `unresolved`:
    what is known instead (no neighbour answered for the address a DNAT sent it to)."""
    found = deciders(evidence_decisions, lost=lost, refused=refused)
    first = [d for d in found if d.reply or "established" not in d.spec.lower()]
    if not lost and first and len(first) < len(found):
        found = first
    if lost and any(d.drops for d in found):
        # what sent a dropped flow where it was dropped (a port-forward to a host that drops
        # it), in the order its packet met them, as for a flow that got through
        found = [d for d in evidence_decisions if d in found or (d.target in TRANSLATIONS and not d.nd)]
    if found:
        return "; ".join(d.describe(counted=False) for d in found)
    moved = [d for d in evidence_decisions if d.target in MOVES and not d.nd]
    if lost and (first_only or unresolved) and moved:
        # a forward whose answer the trace did not show dropped (a hairpin's answer, from
        # where the DNAT sent it, is found and named: "its reply: srv2: dropped by ..."),
        # or one sent to an address no neighbour answered for (`unresolved` says so)
        said = "; ".join(d.describe(counted=False) for d in moved)
        what = "its first packet" if first_only else "its packets"
        then = unresolved or "the trace showed no drop of its answer, so what lost it is not known"
        return f"no firewall rule or policy dropped {what} ({said}); {then}"
    return "no firewall rule or policy decided it"
