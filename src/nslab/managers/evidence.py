"""Which rule decided, on a manager's host: the rule named with its chain as the manager
wrote it (`ufw-user-input rule 1`, firewalld's `filter_IN_public_allow`) and the manager
that made it: `gw: accepted by filter_IN_public_allow rule 1 (tcp dport 80 accept) in table
inet firewalld (made by firewalld)`.

firewalld's rules keep no counters (it writes none, and rewrites its table on every
reload, so nslab cannot add counting rules of its own that would last), so a scenario's
probe through a lab with a firewalld host is traced by nftables (nslab.probe.traced,
as `nslab explore` traces every flow): the kernel names each rule its first packet met.
"""

from __future__ import annotations

from dataclasses import replace

from nslab.firewall.evidence import Decision, Evidence
from nslab.lab import Lab
from nslab.managers.common import KINDS, managed


def credit(lab: Lab, found: Evidence) -> Evidence:
    """The evidence with each decision of a manager's host credited to that manager."""
    return replace(found, decisions=tuple(credit_all(lab, list(found.decisions)))) if managed(lab) else found


def credit_all(lab: Lab, found: list[Decision]) -> list[Decision]:
    """Each decision of a manager's host credited to that manager; a rule another manager
    made on the same host keeps its maker (Docker's, beside ufw)."""
    kinds = {h.name: h.manager.kind for h in managed(lab) if h.manager is not None}
    return [replace(d, made_by=k) if (k := kinds.get(d.where)) and not d.made_by else d for d in found]


def traced(lab: Lab) -> bool:
    """Whether a probe's evidence comes from the trace: a host whose rules count nothing."""
    return any(h.manager is not None and not KINDS[h.manager.kind].counts for h in managed(lab))
