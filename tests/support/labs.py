"""Lab files for tests, as a new user writes them: one network and hosts on it, each with
one interface (lan_lab, host); and a lab file built in a world around a test's probes
(provisioned). Many tests wrote both by hand again (the same [lab], [[network]] and
[[host]] lines with other names; the same five lines around a session); what a test is
about stays in its own words: the keys it passes (`firewall = { ufw = "uf" }`) are TOML
values as a user writes them.

>>> print(lan_lab("b", "10.6.0.0/24", host("u", "10.6.0.1", firewall='{ ufw = "uf" }')), end="")
[lab]
name = "b"
<BLANKLINE>
[[network]]
name = "lan"
subnet = "10.6.0.0/24"
<BLANKLINE>
[[host]]
name = "u"
interfaces = [{ network = "lan", address = "10.6.0.1" }]
firewall = { ufw = "uf" }
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from nslab.scenario.session import LabSession


def host(name: str, address: str, address6: str | None = None, *, network: str = "lan", **keys: str) -> str:
    """A [[host]] with one interface on `network`; `keys`: its other keys, each value as
    TOML writes it (firewall='{ nft = "gw.nft" }', routes='["default via 10.0.0.1"]')."""
    v6 = f', address6 = "{address6}"' if address6 else ""
    lines = [
        "[[host]]",
        f'name = "{name}"',
        f'interfaces = [{{ network = "{network}", address = "{address}"{v6} }}]',
        *(f"{key} = {value}" for key, value in keys.items()),
    ]
    return "\n".join(lines) + "\n"


def lan_lab(
    name: str | None,
    subnet: str,
    *hosts: str,
    network: str = "lan",
    subnet6: str | None = None,
    head: str = "",
    tail: str = "",
) -> str:
    """A lab file: its [lab] name (None: a file without the table), one network and
    `hosts` (host()); `head`: what stands between [lab] and the network (a [firewall]
    table), `tail`: tables after the hosts ([upstream])."""
    parts = [f'[lab]\nname = "{name}"\n'] if name is not None else []
    if head:
        parts.append(head)
    net = f'[[network]]\nname = "{network}"\nsubnet = "{subnet}"\n'
    parts.append(net + (f'subnet6 = "{subnet6}"\n' if subnet6 else ""))
    parts += hosts
    if tail:
        parts.append(tail)
    return "\n".join(parts)


@contextlib.contextmanager
def provisioned(lab: Path | str, *, counting: bool = False, **settings: Any) -> Iterator[LabSession]:
    """The lab file built in a fresh world (`settings`: more run settings, e.g. patient
    waits: ping_wait=1, probe_wait=1), the world ended after: what many tests did by hand
    around what they probe. `counting`: the run's rule coverage counts from the build on,
    as behave's hooks have it."""
    from nslab.config import Settings  # here: the lab file builders need no session
    from nslab.coverage.counts import Coverage
    from nslab.scenario.session import LabSession

    session = LabSession.open(Settings(lab=str(lab), **settings))
    try:
        if counting:
            session.coverage = Coverage()
        session.use_lab(None)
        session.new_world()
        session.provision()
        yield session
    finally:
        session.close()
