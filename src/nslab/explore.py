"""A lab's whole reachability, measured on the real kernel (nslab explore, nslab diff, and
the step "the lab's reachability matches"): every flow of nslab.flows, probed in the
lab's world with a listener on every destination port, each with its outcome class, the
rule(s) that decided it and, where it got through, the source address the destination saw
(so NAT shows).

How, and why so: counters taken around concurrent probes cannot say which flow a rule
decided. So every flow is probed once, all together (a dropped flow waits its timeout
once for the whole set, not once per flow), for its outcome; then each flow alone, with
the firewalls' counters around it and the destination's listener read before and after,
for its deciding rule and the source it was seen from. A flow lost in the first run is
run alone with a short timeout: its first packet has met every rule long before that.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from nslab import trace
from nslab.errors import ProbeError, TargetError
from nslab.evidence import Decision
from nslab.flows import Flow, Place, places
from nslab.ports import BATCH, LOST, Outcome, Prober
from nslab.session import LabSession

TRACED_FEWEST = 64  # flows at once below which a trace that still loses events is an error
ALONE_LOST = 0.02  # seconds a flow lost in the first run waits when run alone (see above)
ABSENT = "absent"  # nslab diff: the flow's source or destination is not in that lab


@dataclass(frozen=True)
class Verdict:
    """What one flow measured; the public interface of `--format json` (outcome,
    decided_by, seen_from)."""

    outcome: str
    decided_by: str = ""
    seen_from: str | None = None

    def as_json(self) -> dict[str, str | None]:
        return {"outcome": self.outcome, "decided_by": self.decided_by, "seen_from": self.seen_from}


@dataclass(frozen=True)
class Measured:
    flow: Flow
    verdict: Verdict


def decided_by(evidence_decisions: Sequence[Decision], lost: bool) -> str:
    """The rules that decided a flow. A conntrack "established" rule that accepted a flow's
    later packets (its replies) did not decide it where another rule accepted its first."""
    found = [d for d in evidence_decisions if d.drops == lost]
    first = [d for d in found if "established" not in d.spec.lower()]
    if not lost and first and len(first) < len(found):
        found = first
    if found:
        return "; ".join(d.describe(counted=False) for d in found)
    return "no firewall rule or policy decided it"


Where = tuple[str | None, str, int]  # a listener: namespace, protocol, port


def match_peers(
    wanted: Sequence[tuple[Where, str, int] | None], logs: dict[Where, list[tuple[str, int]]]
) -> list[str | None]:
    """For each (listener, probe's source address, probe's port or echo ident), the address
    its listener saw it from: an exact (address, port) peer first, then, for flows whose
    address NAT changed, an unclaimed peer with the port. None: not wanted, or not seen."""
    claimed: set[tuple[Where, int]] = set()
    out: list[str | None] = [None] * len(wanted)
    for exact in (True, False):
        for i, want in enumerate(wanted):
            if want is None or out[i] is not None:
                continue
            where, src, mark = want
            for n, (address, port) in enumerate(logs.get(where, [])):
                if port == mark and (where, n) not in claimed and (not exact or address == src):
                    claimed.add((where, n))
                    out[i] = address
                    break
    return out


class Explorer:
    """Probes a lab's flows in a session's world (the lab built there already)."""

    def __init__(self, session: LabSession, progress: Callable[[str], None] | None = None) -> None:
        self.session = session
        self.where: dict[str, Place] = {p.name: p for p in places(session.lab)}
        self.progress = progress or (lambda _: None)
        self.listening: set[tuple[str | None, str, int]] = set()

    @property
    def prober(self) -> Prober:
        return self.session.prober

    def _spec(self, flow: Flow, timeout: float | None = None) -> dict[str, object]:
        settings = self.session.settings
        wait = settings.ping_wait if flow.proto == "icmp" else settings.probe_wait
        return {
            "ns": self.where[flow.src].ns,
            "proto": flow.proto,
            "dst": self._dst(flow),
            "port": flow.port,
            "timeout": wait if timeout is None else min(wait, timeout),
        }

    def _dst(self, flow: Flow) -> str:
        return str(self.where[flow.dst].address(flow.v6))

    def _listen(self, flow: Flow) -> tuple[str | None, str, int]:
        key = (self.where[flow.dst].ns, flow.proto, flow.port)
        if key not in self.listening:
            reply = self.prober.request("listen", ns=key[0], proto=key[1], port=key[2])
            error = str(reply.get("error", ""))
            # in use: a server of the lab's own listens there (nslab's DNS on the internet's
            # udp/53), and the flow's verdict is that server's answer
            if error and "in use" not in error:
                raise ProbeError(f"{flow.dst} cannot listen on {flow.service_words}: {error}")
            self.listening.add(key)
        return key

    def _seen(self, key: tuple[str | None, str, int]) -> list[str]:
        return list(self.prober.request("seen", ns=key[0], proto=key[1], port=key[2]).get("seen", []))

    def run(self, flows: Sequence[Flow]) -> list[Measured]:
        unknown = [f for f in flows if f.src not in self.where or f.dst not in self.where]
        if unknown:
            raise ProbeError(f"flow {unknown[0].words()}: no such place in lab '{self.session.lab.name}'")
        for flow in flows:
            self._listen(flow)
        why_not = trace.usable(self.session.w, self.session.firewalls)
        if why_not is None:
            return self._traced(flows)
        self.progress(f"deciding rules from counters, one flow at a time ({why_not})")
        return self._counted(flows, self._batch(flows))

    def _batch(self, flows: Sequence[Flow], tracer: trace.Tracer | None = None) -> list[dict[str, object]]:
        """Every flow probed at once (BATCH at a time); a probe that could not run is an error.
        Traced, each batch waits for nft to show it; one whose trace events the kernel
        dropped (nft falls behind on a loaded machine) is probed again, half as many at once."""
        out: list[dict[str, object]] = []
        size, start = BATCH, 0
        while start < len(flows):
            chunk = flows[start : start + size]
            results, _ = self.prober.probe([self._spec(f) for f in chunk], ())
            if tracer is not None and tracer.checkpoint():
                if size <= TRACED_FEWEST:
                    raise TargetError(
                        f"nft's trace lost events with {size} flows at once: the deciding rules "
                        "would be incomplete, so none are given",
                        "run it again on a less loaded machine",
                    )
                size //= 2
                self.progress(f"nft's trace fell behind: {size} flows at a time")
                continue
            for flow, raw in zip(chunk, results, strict=True):
                if raw.get("outcome") is None:
                    raise ProbeError(
                        f"flow {flow.words()} did not run: {raw.get('error')}, so there is no verdict"
                    )
                out.append(raw)
            start += len(chunk)
            self.progress(f"{start} of {len(flows)} flows probed")
        return out

    def _traced(self, flows: Sequence[Flow]) -> list[Measured]:
        """One batch under nftables' trace: every flow's rules from its first packet."""
        w = self.session.w
        tracer = trace.Tracer(w, w.spawn, self.session.firewalls)
        tracer.start()
        try:
            raws = self._batch(flows, tracer)
        finally:
            tracer.stop()
        keys = [
            trace.Key(
                f.proto, int(str(r.get("sport") or 0)), 0, str(r.get("src") or ""), self._dst(f), f.port
            )
            if f.proto != "icmp"
            else trace.Key("icmp", 0, int(str(r.get("ident") or 0)))
            for f, r in zip(flows, raws, strict=True)
        ]
        decided = tracer.decisions(keys)
        outcomes = [Outcome.from_reply(raw).outcome for raw in raws]
        seen = self._seen_from(flows, raws, [o not in LOST for o in outcomes])
        return [
            Measured(flow, Verdict(outcome, decided_by(found, outcome in LOST), peer))
            for flow, outcome, found, peer in zip(flows, outcomes, decided, seen, strict=True)
        ]

    def _seen_from(
        self, flows: Sequence[Flow], raws: Sequence[dict[str, object]], through: Sequence[bool]
    ) -> list[str | None]:
        """The source address each flow that got through was seen from, matched in its
        listener's log by the probe's source port (the echo ident for pings). Ports alone
        collide: two namespaces pick their ephemeral ports independently, and one CI run
        gave pc's flow to edge the port of db's (pc "seen from" db's address). So a peer
        that is exactly the probe's (address, port) is claimed first; only a flow with no
        such peer (NAT changed its address) takes an unclaimed peer with its port."""
        logs: dict[Where, list[tuple[str, int]]] = {}
        wanted: list[tuple[Where, str, int] | None] = []
        for flow, raw, ok in zip(flows, raws, through, strict=True):
            if not ok:
                wanted.append(None)
                continue
            where = self._listen(flow)
            if where not in logs:
                reply = self.prober.request("seen", ns=where[0], proto=where[1], port=where[2])
                logs[where] = [(str(a), int(n)) for a, n in reply.get("peers", [])]
            mark = int(str(raw.get("ident" if flow.proto == "icmp" else "sport") or 0))
            wanted.append((where, str(raw.get("src") or ""), mark))
        return match_peers(wanted, logs)

    def _counted(self, flows: Sequence[Flow], raws: Sequence[dict[str, object]]) -> list[Measured]:
        """Each flow again alone, with counters around it (where tracing cannot be had)."""
        out = []
        firewalls = self.session.firewalls
        for n, (flow, raw0) in enumerate(zip(flows, raws, strict=True), 1):
            got = Outcome.from_reply(dict(raw0))
            key = self._listen(flow)
            before = len(self._seen(key))
            timeout = ALONE_LOST if got.outcome in LOST else None
            (raw,), evidence = self.prober.probe([self._spec(flow, timeout)], firewalls)
            seen = self._seen(key)[before:]
            again = Outcome.from_reply(raw) if raw.get("outcome") else got
            # a flow that got through alone got through: its run is the one with the evidence
            final = again if again.outcome not in LOST else got
            lost = final.outcome in LOST
            verdict = Verdict(
                final.outcome, decided_by(evidence.decisions, lost), None if lost or not seen else seen[0]
            )
            out.append(Measured(flow, verdict))
            if n % 50 == 0:
                self.progress(f"{n} of {len(flows)} flows' deciding rules read")
        return out


def explore(
    session: LabSession, flows: Sequence[Flow], progress: Callable[[str], None] | None = None
) -> list[Measured]:
    """Every flow's verdict in the session's current world."""
    return Explorer(session, progress).run(flows)
