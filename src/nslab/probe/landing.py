"""Where a DNAT or a redirect sent a probe that got through: `accepted at sshbox:22`.

A connection to router:2222 that a DNAT map sends to sshbox:22 is "accepted", yet the
listener on router:2222 never saw it. The translating place's conntrack entry says where
it went: its reply comes from there. Explore reads the same from the trace (nslab.probe.trace);
a scenario's probe, measured with counters, asks conntrack.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from nslab.commands import Runner
from nslab.errors import ProbeError
from nslab.firewall.evidence import HOST, MOVES, Evidence, Sources
from nslab.lab import Lab
from nslab.probe import checks as probe
from nslab.probe.places import own_addresses

_TRANSLATES = re.compile(r"\b(dnat|redirect)\b", re.I)


def landed(runner: Runner, lab: Lab, written: Sources, raw: Mapping[str, object], evidence: Evidence) -> str:
    """`sshbox:22` for a probe a DNAT or redirect sent there, "" otherwise. The places
    asked: the one whose NAT rule counted, else those whose ruleset files translate
    destinations (a rule without `counter` counts nothing). A place without the conntrack
    tool leaves it unsaid, never wrong."""
    sent = sent_to(runner, written, raw, evidence)
    return "" if sent is None else named(lab, sent[1], sent[2])


def sent_to(
    runner: Runner, written: Sources, raw: Mapping[str, object], evidence: Evidence
) -> tuple[str, str, str] | None:
    """(the translating place, the address and port its DNAT or redirect sent the probe
    to) from that place's conntrack; None where nothing says so."""
    if not raw.get("sport"):
        return None
    moved = [d.where for d in evidence.decisions if d.target in MOVES] or [
        where for (where, _, _), rules in written.items() if any(_TRANSLATES.search(r.text) for r in rules)
    ]
    for where in dict.fromkeys(moved):
        try:
            found = _landed_in(runner, where, str(raw["sport"]))
        except ProbeError:
            return None
        if found is not None:
            return (where, *found)
    return None


def _landed_in(runner: Runner, where: str, sport: str) -> tuple[str, str] | None:
    for f in probe.flows(runner, None if where == HOST else where):
        sent = (f.original.get("dst"), f.original.get("dport"))
        came = (f.reply.get("src"), f.reply.get("sport"))
        if f.original.get("sport") == sport and came[0] and came != sent:
            return str(came[0]), str(came[1] or "")
    return None


def named(lab: Lab, address: str, port: object = None) -> str:
    """`sshbox:22`: the place holding `address` (else the address itself), and the port
    where there is one."""
    place = next((p for p, addrs in own_addresses(lab).items() if address in addrs), address)
    return f"{place}:{port}" if port else place
