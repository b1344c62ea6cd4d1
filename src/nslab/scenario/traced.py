"""A scenario's TCP/UDP probe under nftables' trace (nslab.probe.trace, as `nslab explore`
traces every flow), for a lab whose rules keep no counters: a firewalld host's (firewalld
writes none and rewrites its table on every reload). The kernel names each rule the
probe's first packet met; nslab.managers.evidence says which manager made it."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from nslab.errors import ProbeError
from nslab.firewall.evidence import Evidence, Sources
from nslab.machine.world import World
from nslab.probe import trace
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
    if not key.sport:
        raise ProbeError(f"the probe to {spec['dst']} gave no source port, so its trace cannot be found")
    (found,) = tracer.decisions([key], [str(spec["dst"])])
    return raw, Evidence(tuple(found))
