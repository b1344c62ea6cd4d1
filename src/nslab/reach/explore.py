"""A lab's whole reachability, measured on the real kernel (nslab explore, nslab diff, and
the step "the lab's reachability matches"): every flow of nslab.reach.flows, probed in the
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

from nslab.errors import ProbeError, TargetError
from nslab.firewall.evidence import MOVES, Decision, Evidence, deciders
from nslab.managers.evidence import credit_all
from nslab.probe import landing, neighbours, trace
from nslab.probe.ports import BATCH, LOST, Outcome, Prober
from nslab.probe.spec import Spec, wait
from nslab.reach import no_route
from nslab.reach.discovery import Discovery
from nslab.reach.flows import Endpoint, Flow, own_addresses, places
from nslab.reach.peers import Where, locate_peers
from nslab.reach.peers import match_peers as match_peers  # its name here before peers.py
from nslab.reach.verdict import Measured as Measured  # the row types, beside no_route
from nslab.reach.verdict import Verdict as Verdict
from nslab.reach.verdict import decided_by as decided_by  # the public name it has had
from nslab.scenario.session import LabSession

TRACED_FEWEST = 64  # flows at once below which a trace that still loses events is an error
ALONE_LOST = 0.02  # seconds a flow lost in the first run waits when run alone (see above)
ABSENT = "absent"  # nslab diff: the flow's source or destination is not in that lab
# Outcomes that are only the absence of an answer within the probe's wait. Under load (a CI
# runner with its cores oversubscribed 8x, measured here) a reply can come after a 0.1 s
# ping wait or a 0.25 s probe wait, and explore said "lost" where a single probe, or the
# next run, said "replies": diff then reported flows that no change had touched. So every
# flow that timed out is probed once more, all together, waiting CONFIRM_WAIT times longer:
# a late answer wins; a flow that stays silent is lost for real. One extra wait per run
# (about 2 s where timed-out flows exist).
TIMED_OUT = ("dropped", "no answer", "lost")
# "unreachable" is asked again too: measured here under load, a flow's neighbour resolution
# failed in one world and not in another (the same lab, diffed against itself), and the
# next probe resolved it; a flow with no route at all answers at once, so asking costs ~0.
AGAIN = (*TIMED_OUT, "unreachable")
CONFIRM_WAIT = 4.0  # times the configured wait
CONFIRM_MIN = 1.0  # seconds at least: a wait set very short still gets one real chance


class Explorer:
    """Probes a lab's flows in a session's world (the lab built there already)."""

    def __init__(self, session: LabSession, progress: Callable[[str], None] | None = None) -> None:
        self.session = session
        self.where: dict[str, Endpoint] = {p.name: p for p in places(session.lab)}
        self.progress = progress or (lambda _: None)
        self.listening: set[tuple[str | None, str, int]] = set()
        self.confirming = False  # timed-out flows probed again, with a longer wait
        self.answers = False  # the answers traced too (nslab.probe.trace.ANSWERS)
        self.undecided: set[Flow] = set()  # flows whose own packets' trace decided nothing
        self.sources: dict[tuple[str | None, str], str | None] = {}
        spaces = sorted({p.ns for p in self.where.values()}, key=str)
        self.nd = Discovery(lambda: session.w, spaces)  # the flows neighbour discovery lost

    @property
    def prober(self) -> Prober:
        return self.session.prober

    def _spec(self, flow: Flow, timeout: float | None = None) -> dict[str, object]:
        patience = wait(self.session.settings, flow.proto)
        if self.confirming:
            patience = max(patience * CONFIRM_WAIT, CONFIRM_MIN)
        patience = patience if timeout is None else min(patience, timeout)
        return Spec(self.where[flow.src].ns, flow.proto, self._dst(flow), flow.port, patience).request()

    def _credit(self, found: Sequence[Decision]) -> list[Decision]:
        """Each decision on a manager's host says which manager made it ("(made by ufw)")."""
        return credit_all(self.session.lab, list(found))

    def _dst(self, flow: Flow) -> str:
        return str(self.where[flow.dst].flow_address(flow))

    def _listen(self, flow: Flow) -> tuple[str | None, str, int]:
        return self._listen_at(self.where[flow.dst].ns, flow.proto, flow.port, flow.dst)

    def _listen_at(
        self, ns: str | None, proto: str, port: int, name: str, must: bool = True
    ) -> tuple[str | None, str, int]:
        """A listener; `must`: a flow's destination (else one where a DNAT may deliver:
        a place that cannot listen, gone say, is no such place, and its flows say why)."""
        key = (ns, proto, port)
        if key not in self.listening:
            reply = self.prober.request("listen", ns=key[0], proto=key[1], port=key[2])
            error = str(reply.get("error", ""))
            # in use: a server of the lab's own listens there (nslab's DNS on the internet's
            # udp/53), and the flow's verdict is that server's answer
            if error and "in use" not in error:
                if not must:
                    return key
                raise ProbeError(f"{name} cannot listen on {proto}/{port}: {error}")
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
        # every place listens on every port probed: a port-forward's DNAT delivers a flow
        # to another place than the one it was sent to, and that place's log says which
        for proto, port in sorted({(f.proto, f.port) for f in flows}):
            for place in self.where.values():
                if place.ns is not None:
                    self._listen_at(place.ns, proto, port, place.name, must=False)
        why_not = trace.usable(self.session.w, self.session.firewalls)
        if why_not is not None:
            self.progress(f"deciding rules from counters, one flow at a time ({why_not})")
        measured = self._confirmed(self._measure(flows, why_not is None), why_not is None)
        if why_not is None:
            measured = self._answered(measured)
        # a router's "no route" answers are rate limited machine-wide: its routing says (no_route.py)
        spaces = {p.name: p.ns for p in self.where.values()}
        return no_route.settle(self.session.w, spaces, measured)

    def _measure(self, flows: Sequence[Flow], traced: bool) -> list[Measured]:
        return self._traced(flows) if traced else self._counted(flows, self._batch(flows))

    def _confirmed(self, measured: list[Measured], traced: bool) -> list[Measured]:
        """Flows that timed out, probed again together with a longer wait (TIMED_OUT)."""
        silent = [
            i for i, m in enumerate(measured) if m.verdict.outcome in AGAIN and m.flow not in self.nd.lost
        ]
        if not silent:
            return measured
        # each said as it was: flows with no route at all (`nslab init`'s lab, whose hosts
        # have no way to the internet: 20 of its 60) read "got no answer"
        late = sum(1 for i in silent if measured[i].verdict.outcome in TIMED_OUT)
        unreachable = len(silent) - late
        said = f"{late} flows got no answer" if late else ""
        if unreachable:
            said += (
                f" and {unreachable} were unreachable" if late else f"{unreachable} flows were unreachable"
            )
        self.progress(f"{said}: probing them again, waiting longer")
        self.confirming = True
        try:
            again = self._measure([measured[i].flow for i in silent], traced)
        finally:
            self.confirming = False
        out = list(measured)
        for i, second in zip(silent, again, strict=True):
            if second.verdict.outcome not in AGAIN or second.flow in self.nd.lost:
                out[i] = second
        return out

    def _answered(self, measured: list[Measured]) -> list[Measured]:
        """Flows whose own packets nothing decided, probed again with their answers traced
        (only they pay for it): what dropped an answer on its way back, or let it in."""
        todo = [i for i, m in enumerate(measured) if m.flow in self.undecided]
        if not todo:
            return measured
        self.progress(f"{len(todo)} flows decided by no rule on their way: tracing their answers")
        self.answers = True
        try:
            again = self._traced([measured[i].flow for i in todo])
        finally:
            self.answers = False
        out = list(measured)
        for i, second in zip(todo, again, strict=True):
            if second.verdict.outcome == measured[i].verdict.outcome:  # else: not the same flow's fate
                out[i] = second
        return out

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
        tracer = trace.Tracer(w, w.spawn, self.session.firewalls, self.session.written, self.answers)
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
        got = [Outcome.from_reply(raw) for raw in raws]
        self.nd.batch()
        needed = [
            self.nd.needed(f, o, self.where[f.src].ns, self._source(f, r) or "", self._dst(f))
            for f, r, o in zip(flows, raws, got, strict=True)
        ]
        decided = tracer.decisions(keys, needed, self.nd.seen)
        self.nd.seen = tracer.nd_drops
        outcomes = [
            self.nd.outcome(f, o, found, self._moved_to(f, to, r, o, found))
            for f, r, o, found, to in zip(flows, raws, got, decided, tracer.landed, strict=True)
        ]
        self.undecided |= {
            f for f, o, d in zip(flows, outcomes, decided, strict=True) if not deciders(d, lost=o in LOST)
        }
        seen = self._seen_from(flows, raws, [o not in LOST for o in outcomes], tracer.landed)
        landed = [
            self._landed(to) if to and (o not in LOST or self._dropped_at(to, found)) else None
            for to, o, found in zip(tracer.landed, outcomes, decided, strict=True)
        ]
        return [
            Measured(
                flow, self._verdict(flow, raw, o, self._why(flow, o, found, first_only=True), peer, where, at)
            )
            for flow, raw, o, found, (peer, where), at in zip(
                flows, raws, outcomes, decided, seen, landed, strict=True
            )
        ]

    def _moved_to(
        self,
        flow: Flow,
        to: tuple[str, int] | None,
        raw: dict[str, object],
        got: Outcome,
        found: Sequence[Decision],
    ) -> str:
        """The address a DNAT sent a flow to: the trace's (a chain after the DNAT saw it),
        else for a lost flow the translating place's conntrack (a router whose only
        chain is the DNAT's shows nothing after it: tests/labs/debvoid-dnat.toml)."""
        if to or not got.lost:
            return to[0] if to else ""
        if not any(d.target in MOVES and not d.nd for d in found):
            return ""
        sent = landing.sent_to(self.session.w, self.session.written, raw, Evidence(tuple(found)))
        return sent[1] if sent else ""

    def _why(self, flow: Flow, outcome: str, found: Sequence[Decision], first_only: bool = False) -> str:
        arp = self.nd.arp.get(flow, "")
        why = decided_by(
            self._credit(found), outcome in LOST, outcome == "refused", first_only=first_only, unresolved=arp
        )
        return why + self.nd.note(flow, outcome)

    def _dropped_at(self, to: tuple[str, int], found: Sequence[Decision]) -> bool:
        """Whether the place a DNAT sent a lost flow to is the one that dropped it (its
        trace there says so): `dropped at srv2:2345`. A flow dropped before it got there,
        or lost with no drop seen, does not say where it landed."""
        place = landing.named(self.session.lab, to[0])
        return any(d.drops and not d.nd and d.where == place for d in found)

    def _landed(self, to: tuple[str, int]) -> str:
        """`sshbox:22`: the place holding the address a DNAT sent a flow to, and the port."""
        return landing.named(self.session.lab, *to)

    def _verdict(
        self,
        flow: Flow,
        raw: dict[str, object],
        outcome: str,
        why: str,
        peer: str | None,
        at: Where | None,
        landed: str | None = None,
    ) -> Verdict:
        """A flow's verdict with the addresses it went from and to, where a DNAT sent it
        (from the trace), and the place its listener was in where that is not its
        destination's (None: not known)."""
        names = {p.ns: p.name for p in self.where.values()}  # a handful of places
        reached = names.get(at[0]) if at is not None and at[0] != self.where[flow.dst].ns else None
        return Verdict(outcome, why, peer, landed, self._source(flow, raw), self._dst(flow), reached)

    def _source(self, flow: Flow, raw: dict[str, object]) -> str | None:
        """The address the probe left from: its socket's, or for a ping (sent on a shared
        raw socket) the kernel's choice for its destination (`ip route get`)."""
        if raw.get("src"):
            return str(raw["src"])
        key = (self.where[flow.src].ns, self._dst(flow))
        if key not in self.sources:
            _, route = neighbours.route_get(self.session.w, key[0], key[1])
            # None: no route, or a route without a preferred source
            self.sources[key] = str(route["prefsrc"]) if route.get("prefsrc") else None
        return self.sources[key]

    def _landing_listener(self, flow: Flow, to: tuple[str, int] | None) -> Where:
        """The listener where the trace says a DNAT sent the flow (its landing place's, on
        the port it landed on), else its destination's."""
        if to is not None and to[1]:
            owner = next((p for p, addrs in own_addresses(self.session.lab).items() if to[0] in addrs), None)
            place = self.where.get(owner) if owner else None
            key = (place.ns, flow.proto, to[1]) if place is not None else None
            if key is not None and key in self.listening:
                return key
        return self._listen(flow)

    def _seen_from(
        self,
        flows: Sequence[Flow],
        raws: Sequence[dict[str, object]],
        through: Sequence[bool],
        landed: Sequence[tuple[str, int] | None] = (),
    ) -> list[tuple[str | None, Where | None]]:
        """The source address each flow that got through was seen from, matched in its
        listener's log by the probe's source port (the echo ident for pings). Ports alone
        collide: two namespaces pick their ephemeral ports independently, and one CI run
        gave pc's flow to edge the port of db's (pc "seen from" db's address). So a peer
        that is exactly the probe's (address, port) is claimed first; only a flow with no
        such peer (NAT changed its address) takes an unclaimed peer with its port. A flow
        the trace saw DNAT'd is looked for at the listener it landed on: there a peer with
        its port is it though an SNAT changed its source too (pc's forward through Debian's
        nat.nft, whose SNAT map holds pc, read "seen from" nothing)."""
        logs: dict[Where, list[tuple[str, int]]] = {}
        wanted: list[tuple[Where, str, int] | None] = []
        moved = list(landed) or [None] * len(flows)
        for flow, raw, ok, to in zip(flows, raws, through, moved, strict=True):
            if not ok:
                wanted.append(None)
                continue
            where = self._landing_listener(flow, to)
            if where not in logs:
                reply = self.prober.request("seen", ns=where[0], proto=where[1], port=where[2])
                logs[where] = [(str(a), int(n)) for a, n in reply.get("peers", [])]
            mark = int(str(raw.get("ident" if flow.proto == "icmp" else "sport") or 0))
            wanted.append((where, str(raw.get("src") or ""), mark))
        # the other listeners of the protocols that got through: where a port-forward sent them
        protos = {w[0][1] for w in wanted if w is not None}
        elsewhere = sorted((k for k in self.listening if k[1] in protos), key=str)
        for where in elsewhere:
            if where not in logs:
                reply = self.prober.request("seen", ns=where[0], proto=where[1], port=where[2])
                logs[where] = [(str(a), int(n)) for a, n in reply.get("peers", [])]
        return locate_peers(wanted, logs, elsewhere)

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
            # counted alone: the destination's own listener only; where a DNAT sent it, from
            # the translating place's conntrack (a scenario's way: nslab.probe.landing)
            moved = any(d.target in MOVES for d in evidence.decisions)
            sent = landing.sent_to(self.session.w, self.session.written, raw, evidence) if moved else None
            outcome = self.nd.outcome(flow, final, evidence.decisions, sent[1] if sent else "")
            lost = outcome in LOST
            at = "" if sent is None else landing.named(self.session.lab, sent[1], sent[2])
            here = at.rpartition(":")[0] or at
            if lost and not any(d.drops and not d.nd and d.where == here for d in evidence.decisions):
                at = ""  # lost before it got there, or nothing says where
            verdict = Verdict(
                outcome,
                self._why(flow, outcome, evidence.decisions),
                None if lost or not seen else seen[0],
                landed_at=at or None,
                from_address=self._source(flow, raw if raw.get("src") else dict(raw0)),
                to_address=self._dst(flow),
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
