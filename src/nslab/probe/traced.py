"""A scenario's TCP/UDP probe under nftables' trace (nslab.probe.trace, as `nslab explore`
traces every flow), for a lab whose rules keep no counters: a firewalld host's (firewalld
writes none and rewrites its table on every reload). The kernel names each rule the
probe's first packet met; nslab.managers.evidence says which manager made it."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any

from nslab.errors import ProbeError
from nslab.firewall.evidence import Evidence, Sources
from nslab.machine.world import World
from nslab.probe import trace
from nslab.probe.checks import Ping
from nslab.probe.ports import Prober


def traced_probe(
    world: World, prober: Prober, places: Sequence[str], written: Sources | None, spec: dict[str, Any]
) -> tuple[dict[str, Any], Evidence]:
    """One TCP/UDP probe under nftables' trace in every firewall place (PLACE:TOOL), with
    the rules its first packet met."""
    tracer = trace.Tracer(world, world.spawn, places, written)
    tracer.start()
    try:
        (raw,), _ = prober.probe([spec], ())
        tracer.checkpoint()
    finally:
        tracer.stop()
    if raw.get("outcome") is None:
        return raw, Evidence()
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
        return raw, Evidence()
    if not key.sport:
        raise ProbeError(f"the probe to {spec['dst']} gave no source port, so its trace cannot be found")
    (found,) = tracer.decisions([key], [str(spec["dst"])])
    return raw, Evidence(tuple(found))


def traced_ping(
    world: World, places: Sequence[str], written: Sources | None, dst: str, run: Callable[[], Ping]
) -> Ping:
    """A ping (`run`) under nftables' trace: its evidence is the rules its echo requests
    met in every firewall place. Its identifier is the kernel's or ping's choice, so it is
    read from the trace: the only echo requests a scenario sends meanwhile are its own
    (the tracer's marks go over loopback, which no trace counts)."""
    tracer = trace.Tracer(world, world.spawn, places, written)
    tracer.start()
    try:
        ping = run()
        tracer.checkpoint()
    finally:
        tracer.stop()
    seen = [trace.parse("".join(place.text)) for place in tracer.places]
    idents = sorted(
        {t.key.ident for traces in seen for t in traces if t.key is not None and t.key.proto == "icmp"}
    )
    found: list[Any] = []
    for decisions in tracer.decisions([trace.Key("icmp", 0, i) for i in idents], [dst] * len(idents)):
        found += [d for d in decisions if d not in found]
    return replace(ping, evidence=Evidence(tuple(found)))
