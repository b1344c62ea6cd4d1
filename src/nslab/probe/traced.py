"""A scenario's TCP/UDP probe under nftables' trace (nslab.probe.trace, as `nslab explore`
traces every flow), for a lab whose rules keep no counters: a firewalld host's (firewalld
writes none and rewrites its table on every reload). The kernel names each rule the
probe's first packet met; nslab.managers.evidence says which manager made it."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import replace
from typing import Any

from nslab.commands import Result
from nslab.errors import ProbeError, TargetError
from nslab.firewall.evidence import Evidence, Sources
from nslab.machine.world import World
from nslab.probe import trace
from nslab.probe.checks import Ping
from nslab.probe.ports import Prober


def traced_probe(
    world: World, prober: Prober, places: Sequence[str], written: Sources | None, spec: dict[str, Any]
) -> tuple[dict[str, Any], Evidence]:
    """One TCP/UDP probe under nftables' trace in every firewall place (PLACE:TOOL), with
    the rules its first packet (and its answer's) met."""
    raw, evidence, _ = _traced_probe(world, prober, places, written, spec)
    return raw, evidence


def _traced_probe(
    world: World, prober: Prober, places: Sequence[str], written: Sources | None, spec: dict[str, Any]
) -> tuple[dict[str, Any], Evidence, bool]:
    """traced_probe, and whether its answer went untraced: the trace saw its own packets
    and no answer of them (one may have come as what the trace does not follow)."""
    tracer = trace.Tracer(world, world.spawn, places, written)
    tracer.start()
    try:
        (raw,), _ = prober.probe([spec], ())
        tracer.checkpoint()
    finally:
        tracer.stop()
    if raw.get("outcome") is None:
        return raw, Evidence(), False
    key = trace.Key(
        str(spec["proto"]),
        int(str(raw.get("sport") or 0)),
        0,
        str(raw.get("src") or ""),
        str(spec["dst"]),
        int(str(spec["port"])),
    )
    if not key.sport and raw.get("outcome") == "unreachable":
        # never sent (no route: the kernel's error is in `raw`): no packet, so no trace; its
        # outcome and the kernel's words are its evidence, as for an untraced probe
        return raw, Evidence(), False
    if not key.sport:
        raise ProbeError(f"the probe to {spec['dst']} gave no source port, so its trace cannot be found")
    (found,) = tracer.decisions([key], [str(spec["dst"])])
    return raw, Evidence(tuple(found)), bool(tracer.seen - tracer.answered)


def traced_ping(
    world: World, places: Sequence[str], written: Sources | None, dst: str, run: Callable[[], Ping]
) -> Ping:
    """A ping (`run`) under nftables' trace: its evidence is the rules its echo requests
    met in every firewall place. Its identifier is the kernel's or ping's choice, so it is
    read from the trace: the only echo requests a scenario sends meanwhile are its own
    (the tracer's marks go over loopback, which no trace counts)."""
    return _traced_ping(world, places, written, dst, run)[0]


def _traced_ping(
    world: World, places: Sequence[str], written: Sources | None, dst: str, run: Callable[[], Ping]
) -> tuple[Ping, bool]:
    """traced_ping, and whether its answers went untraced (_traced_probe)."""
    tracer = trace.Tracer(world, world.spawn, places, written)
    tracer.start()
    try:
        ping = run()
        tracer.checkpoint()
    finally:
        tracer.stop()
    seen = [trace.parse("".join(place.text)) for place in tracer.places]
    idents = sorted(
        {
            t.key.ident
            for traces in seen
            for t in traces
            if t.key is not None and t.key.proto == "icmp" and not t.key.reply
        }
    )
    found: list[Any] = []
    for decisions in tracer.decisions([trace.Key("icmp", 0, i) for i in idents], [dst] * len(idents)):
        found += [d for d in decisions if d not in found]
    return replace(ping, evidence=Evidence(tuple(found))), bool(tracer.seen - tracer.answered)


# --- a probe the counters could not decide ---------------------------------------------------
# nft keeps no counter for a chain's policy: a probe a native nft chain's drop policy lost
# read "no firewall rule or policy counted its packets", where `nslab explore` (traced) on
# the same lab said "fw: dropped by forward policy DROP in table inet fw". Such a probe is
# sent once more under the trace, and the trace names what dropped it. Only then: tracing
# every probe costs a monitor per firewall place around each one.


@contextlib.contextmanager
def _unlogged(world: World, keep: list[Result]) -> Iterator[None]:
    """The tracer's own commands (its table, monitors, marks) left out of the scenario's
    command log, which a failure's diagnostics show: they are nslab's housekeeping, as its
    counting rules are (a bundle read `truncate -s 0 /run/nslab-trace-b.txt` among the
    user's commands). What `keep` holds at the end (the ping sent again) stays in."""
    log = getattr(world, "log", None)
    if log is None:
        yield
        return
    before = {id(r) for r in log.entries}
    try:
        yield
    finally:
        log.entries[:] = [r for r in log.entries if id(r) in before or any(r is k for k in keep)]


def undecided(evidence: Evidence, lost: bool) -> bool:
    """Whether a lost probe's counters name nothing that dropped it while a drop policy
    that keeps no counter may have (Evidence.uncounted)."""
    return lost and bool(evidence.uncounted) and not evidence.deciding(lost=True)


def retraced_probe(
    world: World,
    prober: Prober,
    places: Sequence[str],
    written: Sources | None,
    spec: dict[str, Any],
    raw: dict[str, Any],
    evidence: Evidence,
) -> Evidence:
    """The evidence of an undecided lost probe, from the same probe sent again under the
    trace where that is lost the same way and the trace names what dropped it; else the
    counters' own (which say what they cannot tell)."""
    try:
        with _unlogged(world, []):
            if trace.usable(world, places) is not None:
                return evidence
            again, traced, untraced = _traced_probe(world, prober, places, written, spec)
    except (TargetError, ProbeError):  # the trace failed (lost events): the counters' words
        return evidence
    if again.get("outcome") != raw.get("outcome"):
        return evidence  # not the same loss: nslab does not guess
    if not traced.deciding(lost=True) and untraced:
        # no drop of its own packets, and no answer traced: one may have come as what the
        # trace does not follow (an ICMP error: mail's port-unreachable to gw, which gw's
        # input policy dropped, read "no firewall rule or policy counted its packets")
        return evidence
    if not traced.deciding(lost=True):  # the same loss, and no policy dropped it either way
        return replace(evidence, uncounted=())
    return traced


def retraced_ping(
    world: World,
    places: Sequence[str],
    written: Sources | None,
    dst: str,
    run: Callable[[], Ping],
    first: Ping,
) -> Ping:
    """A lost ping the counters could not decide: its evidence from the same ping sent
    again under the trace where all of it is lost again and the trace names the drop."""
    pinged: list[Result] = []

    def ping_again() -> Ping:
        p = run()
        pinged.append(p.raw)  # the ping sent again stays in the log; the tracer's commands go
        return p

    try:
        with _unlogged(world, pinged):
            if trace.usable(world, places) is not None:
                return first
            again, untraced = _traced_ping(world, places, written, dst, ping_again)
    except (TargetError, ProbeError):  # the trace failed (lost events): the counters' words
        return first
    if again.result.received != first.result.received:
        return first  # not the same loss: nslab does not guess
    if not again.evidence.deciding(lost=True) and untraced:
        return first  # no drop seen, and no answer traced: one may have come untraced (retraced_probe)
    if not again.evidence.deciding(lost=True):  # the same loss, and no policy dropped it
        return replace(first, evidence=replace(first.evidence, uncounted=()))
    return replace(first, evidence=again.evidence)
