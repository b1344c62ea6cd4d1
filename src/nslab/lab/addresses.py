"""Each place's own addresses in a lab: every interface's, the lab's host's on its
networks, the simulated internet's. A source seen as anything else was NAT'd; a public
address a ruleset DNATs that none of these has is the host's (nslab.firewall.places).

>>> from nslab.lab import default_lab
>>> sorted(own_addresses(default_lab())["red"])
['10.16.0.2']
"""

from __future__ import annotations

from nslab.lab.model import Lab

HOST = "host"  # the lab's host (the world's root namespace): a reserved name no lab host has
INTERNET = "the internet"


def own_addresses(lab: Lab) -> dict[str, frozenset[str]]:
    """Each place's own addresses, every interface's: a source seen as anything else was
    NAT'd (a router's packets leave from the address of the interface they leave by)."""
    out: dict[str, set[str]] = {}
    for h in lab.hosts:
        for i in h.interfaces:
            out.setdefault(h.name, set()).update(str(a.ip) for a in (i.address, i.address6, *i.extra) if a)
    up = lab.upstream
    host = {str(a.ip) for n in lab.networks for a in (n.host, n.host6, n.gateway) if a is not None}
    if up.via is None and lab.internet:
        host |= {str(a.ip) for a in (up.host_address, up.host_address6) if a is not None}
    out[HOST] = host
    if not lab.internet:
        return {k: frozenset(v) for k, v in out.items()}
    out[INTERNET] = {
        str(a) for a in (up.server, up.dns, up.isp_address.ip, up.server6, up.dns6,
                         up.isp_address6.ip if up.isp_address6 else None) if a is not None
    }  # fmt: skip
    return {k: frozenset(v) for k, v in out.items()}
