"""Which address a flow's listener saw it from, and which listener saw it: explore's
probes are matched to the peers each listener logged (nslab.reach.explore)."""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence

Where = tuple[str | None, str, int]  # a listener: namespace, protocol, port


def match_peers(
    wanted: Sequence[tuple[Where, str, int] | None], logs: dict[Where, list[tuple[str, int]]]
) -> list[str | None]:
    """For each (listener, probe's source address, probe's port or echo ident), the address
    its listener saw it from: an exact (address, port) peer first, then, for flows whose
    address NAT changed, an unclaimed peer with the port. None: not wanted, or not seen."""
    return [peer for peer, _ in locate_peers(wanted, logs, ())]


def locate_peers(
    wanted: Sequence[tuple[Where, str, int] | None],
    logs: dict[Where, list[tuple[str, int]]],
    elsewhere: Sequence[Where],
) -> list[tuple[str | None, Where | None]]:
    """match_peers, and the listener that saw each: its own first (the exact peer), then
    one of `elsewhere` of its protocol, any port, with the exact peer (a port-forward's
    DNAT delivered it there, its source untouched), then its own with the port alone (NAT
    changed the source)."""
    claimed: set[tuple[Where, int]] = set()
    out: list[tuple[str | None, Where | None]] = [(None, None)] * len(wanted)
    for exact, away in ((True, False), (True, True), (False, False)):
        for i, want in enumerate(wanted):
            if want is None or out[i][0] is not None:
                continue
            where, src, mark = want
            for at in [w for w in elsewhere if w[1] == where[1] and w != where] if away else [where]:
                for n, (address, port) in enumerate(logs.get(at, [])):
                    # by port alone never a loopback peer: no NAT makes a flow's source
                    # loopback, but the trace's marker pings (127.0.0.2) share echo idents
                    # (a new user saw "seen from 127.0.0.1" once in ~30 explores)
                    if not exact and _loopback(address) and not _loopback(src):
                        continue
                    if port == mark and (at, n) not in claimed and (not exact or address == src):
                        claimed.add((at, n))
                        out[i] = (address, at)
                        break
                if out[i][0] is not None:
                    break
    return out


def _loopback(address: str) -> bool:
    try:
        return ipaddress.ip_address(address).is_loopback
    except ValueError:
        return False
