"""The ports a lab's firewall managers' rules match on, read from what they wrote once the
lab is built (ufw's iptables rules, firewalld's nft table): a manager's rules exist only
then, not in any file of the lab's. Explore and diff add them to the lab's flow set, as
they add the ports of its ruleset files (nslab.reach.flows). Two sides of a diff probe
the union of both sides' ports (`Shared`): a port one side alone probed would read as a
flow the other side lacks ("absent"), not as what that side does with it.

>>> sorted(ports_of("-A ufw-user-input -p tcp -m tcp --dport 22 -j ACCEPT", "ufw"))
[('tcp', 22)]
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterable

from nslab.commands import Runner
from nslab.lab import Lab
from nslab.managers.common import KINDS, managed
from nslab.reach.flows import ports_in_text


def ports_of(text: str, kind: str) -> list[tuple[str, int]]:
    """The ports a listing of `kind`'s rules matches on, read in its syntax."""
    return ports_in_text(text, KINDS[kind].syntax)


def live_ports(runner: Runner, lab: Lab) -> list[tuple[str, int]]:
    """Every (protocol, port) the managers' rules match on in the built lab `runner` holds."""
    found: set[tuple[str, int]] = set()
    for host in managed(lab):
        assert host.manager is not None
        for argv in KINDS[host.manager.kind].listings:
            text = runner.run(list(argv), ns=host.name, check=True).stdout
            found.update(ports_of(text, host.manager.kind))
    return sorted(found)


class Shared:
    """The two sides of a diff meet here once each has read its managers' ports: each
    gets the union. A side that fails first lets the other go on without waiting."""

    def __init__(self, sides: int = 2, timeout: float = 600.0) -> None:
        self._found: set[tuple[str, int]] = set()
        self._lock = threading.Lock()
        self._barrier = threading.Barrier(sides, timeout=timeout)
        # a side failed (abort): its error is the run's. Not a wait that timed out, which
        # also breaks the barrier: each side then goes on with the ports it has
        self.failed = False

    def __call__(self, mine: Iterable[tuple[str, int]]) -> list[tuple[str, int]]:
        with self._lock:
            self._found.update(mine)
        # the other side failed (broken): its error is the run's; these ports do here
        with contextlib.suppress(threading.BrokenBarrierError):
            self._barrier.wait()
        with self._lock:
            return sorted(self._found)

    def abort(self) -> None:
        self.failed = True
        self._barrier.abort()
