"""What explore measured of one flow: its verdict (the public JSON's outcome, decided_by,
seen_from, landed_at, reached) and the flow with it. Its own module so that explore and
what settles its verdicts afterwards (nslab.reach.no_route) share it without a cycle."""

from __future__ import annotations

from dataclasses import dataclass

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
