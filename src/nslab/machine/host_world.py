"""The target's own root namespace as a scenario's world, for `@host` scenarios.

Some things can only be shown on a machine's real root namespace (the blog types its
commands there). On a disposable VM (the vagrant target) a `@host` scenario runs there
directly; the lab's teardown stage resets it before the scenario and again after it, so
the next scenario starts from a clean machine. The local target never gets one: the
session refuses (see LabSession.host_world).

>>> w = HostWorld.open(vagrant_target, lab)   # doctest: +SKIP
>>> w.run(["ip", "-br", "link"]).stdout       # doctest: +SKIP
"""

from __future__ import annotations

from nslab.commands import as_argv
from nslab.lab import Lab
from nslab.machine.provision import teardown
from nslab.machine.targets.base import Target
from nslab.machine.world import World, WorldInfo


class HostWorld(World):
    """Commands run on the target as they are (no nsenter); closing tears the lab down."""

    def __init__(self, target: Target, lab: Lab) -> None:
        super().__init__(target, WorldInfo(pid=0, starttime="", userns=False))
        self.name = f"{target.name}:host"
        self.lab = lab

    @classmethod
    def open(cls, target: Target, lab: Lab) -> HostWorld:
        """Take the target's root namespace, first removing any lab left there (the manual
        lab `vagrant up` builds, or a run that was killed)."""
        world = cls(target, lab)
        teardown(world, lab)
        return world

    def enter(self, argv: list[str], ns: str | None = None) -> list[str]:
        return as_argv(argv, ns)

    def alive(self) -> bool:
        return not self.closed

    def close(self) -> None:
        """Undo every stage on the root namespace (idempotent, whatever the scenario built)."""
        if self.closed:
            return
        teardown(self, self.lab)
        self.closed = True
