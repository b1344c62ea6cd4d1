"""A lab session: one target, one lab, a fresh world per scenario. Knows nothing of behave.

The session chooses the lab, asks the target for what it needs (nslab.needs), owns the
world and builds the lab in it. Its probes are nslab.probe.inlab's over that world; what
they measured goes into one record (nslab.scenario.record), which the steps read and the
failure report is built from (nslab.report.failure). The steps are glue over these
methods; the CLI and the tests use them directly.

>>> s = LabSession.open(Settings())          # doctest: +SKIP
>>> s.new_world(); s.provision(upto="gateway")  # doctest: +SKIP
>>> s.ping("red", "the gateway").result.received  # doctest: +SKIP
3
"""

from __future__ import annotations

import contextlib
import functools
import ipaddress
from contextlib import AbstractContextManager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Protocol

from nslab import needs
from nslab.commands import Result
from nslab.config import Settings
from nslab.errors import LabError, MissingFeature, NslabError, ProbeError, TargetError
from nslab.firewall import get_kind, sources
from nslab.firewall.evidence import Decision
from nslab.lab import Host, Interface, Lab, Network, default_lab, load_lab
from nslab.machine.host_world import HostWorld
from nslab.machine.provision import check_rulesets, provision, select
from nslab.machine.sysctls import KernelSysctls, check_sysctls
from nslab.machine.targets.base import Target
from nslab.machine.targets.registry import open_target
from nslab.machine.world import PendingWorld, World
from nslab.managers.common import KINDS
from nslab.managers.docker_session import DockerRun, docker_hosts
from nslab.probe import checks as probe
from nslab.probe import ports
from nslab.probe.inlab import LabProbes
from nslab.scenario.record import Record


class Counting(Protocol):
    """What the session tells of a build: the run's rule coverage (nslab.coverage.counts)
    starts counting when a scenario's rulesets are loaded."""

    def begin(self, world: World, lab: Lab, lab_path: Path | None) -> None: ...

    def paused(self, world: World, *, explored: bool = True) -> AbstractContextManager[None]: ...

    def traced(self, decisions: list[Decision]) -> None: ...


@dataclass
class LabSession:
    settings: Settings
    target: Target
    lab: Lab
    world: World | None = None
    # what the scenario measured (nslab.scenario.record): the steps' verdicts and the
    # failure report read it; a fresh one per scenario
    record: Record = field(default_factory=Record)
    run_lab: Lab | None = None  # the run's own lab (-D lab=...), for untagged features
    _labs: dict[Path, Lab] = field(default_factory=dict)
    _next: PendingWorld | None = None
    _probes: LabProbes | None = None
    _missing: dict[str, str | None] = field(default_factory=dict)  # need -> why it is missing
    _checked: set[int] = field(default_factory=set)  # labs whose rulesets loaded
    _told: set[str] = field(default_factory=set)  # skip reasons already said
    coverage: Counting | None = None  # the run's rule coverage (behave runs; nslab.coverage.counts)
    lab_path: Path | None = None  # the current lab's file (None: the seed's, bundled)
    docker: DockerRun = field(default_factory=DockerRun)  # the world's dockerds (nslab.managers)

    # --- what the target must have (nslab.needs) --------------------------------------------

    def missing_feature(self) -> str | None:
        """Why the current lab cannot run on this target (no IPv6, no nft), or None: its
        scenarios then skip with the reason, as the kernel's selftests do."""
        lab = self.lab
        wanted = []
        if lab.v6:
            wanted.append("IPv6")
        kinds = {r.kind for r in (*lab.host_rulesets, *(r for h in lab.hosts for r in h.rulesets))}
        wanted += dict.fromkeys(n for k in sorted(kinds) for n in get_kind(k).needs)
        wanted += sorted({h.manager.kind for h in lab.hosts if h.manager is not None})
        for name in wanted:
            why = self.lacks(name)
            if why:
                return f"lab '{lab.name}' needs {why}"
        if docker_hosts(lab) and self.docker.missing(self.target):
            return f"lab '{lab.name}' needs Docker: {self.docker.missing(self.target)}"
        return None

    def lacks(self, name: str) -> str | None:
        """None if the target has the feature or tool `name` (a row of nslab.needs the
        target can be asked for), else what it lacks and the fix, in words; asked once per run."""
        if name not in self._missing:
            need = needs.asked(name)
            ok = self.target.run(list(need.check), timeout=10).ok
            self._missing[name] = None if ok else f"{name}, which {self.target.name} lacks ({need.fix})"
        return self._missing[name]

    def require(self, name: str) -> None:
        """MissingFeature (a skip, not a failure) when the target lacks `name`."""
        why = self.lacks(name)
        if why:
            raise MissingFeature(f"this scenario needs {why}")

    # --- the lab ---------------------------------------------------------------------------

    def use_lab(self, path: Path | None) -> None:
        """The lab for the next scenarios: a file a feature names (`@lab:NAME`), loaded once
        per run; None: the run's own lab."""
        if self.run_lab is None:
            self.run_lab = self.lab
        if path is None:
            self.lab = self.run_lab
            self.lab_path = Path(self.settings.lab).resolve() if self.settings.lab else None
            return
        path = path.resolve()
        self.lab_path = path
        if path not in self._labs:
            self._labs[path] = load_lab(self.settings.read_as(path))  # nslab mutate: a mutant's copy
        self.lab = self._labs[path]

    def first_time(self, message: str) -> bool:
        """Whether `message` is new in this run (a skip reason is said once, not per scenario)."""
        new = message not in self._told
        self._told.add(message)
        return new

    @functools.cached_property
    def kernel_sysctls(self) -> KernelSysctls | None:
        """The net sysctls a namespace has on the target's kernel: listed once per run."""
        return KernelSysctls.of(self.target)

    def check_lab(self) -> None:
        """The current lab's sysctls are the target kernel's and its rulesets load (in a
        throwaway world), checked once per run."""
        lab = self.lab
        if id(lab) in self._checked:
            return
        where = str(self.lab_path) if self.lab_path else f"lab '{lab.name}'"
        check_sysctls(lab, self.kernel_sysctls, where, self.target.name)
        # a manager's folder its kind loads here (ufw's rules files): a bad rule is its file
        # and line, not the manager's words at its start (ufw-init's)
        loads = [
            (kind.load, folders)
            for kind in KINDS.values()
            if kind.load is not None
            and (folders := [h for h in kind.hosts(lab) if h.manager is not None and h.manager.folder])
        ]
        if lab.host_rulesets or any(h.rulesets for h in lab.hosts) or loads:
            with World.start(self.target) as scratch:
                check_rulesets(scratch, lab)
                for load, hosts in loads:
                    load(scratch, hosts)
        self._checked.add(id(lab))

    @classmethod
    def open(
        cls, settings: Settings, userdata: dict[str, str] | None = None, lab: Lab | None = None
    ) -> LabSession:
        """A session on the settings' target for `lab` (default: the settings' lab file),
        its rulesets checked where the target can run it."""
        lab = lab if lab is not None else settings.load_lab()  # validated before any machine
        session = cls(settings, open_target(settings, userdata or {}), lab)
        try:
            if session.missing_feature() is None:
                session.check_lab()  # the user's rulesets, checked, not applied
        except NslabError:
            session.target.close()
            raise
        return session

    @property
    def is_seed_lab(self) -> bool:
        """Whether the lab has the seed's values (whatever its name): `@seed-literal`
        scenarios quote them and run on such a lab only."""
        seed = default_lab()
        return replace(self.lab, name=seed.name) == seed

    def gateway(self) -> Network:
        """The network whose gateway is the lab's host, for the seed story's steps (its
        bridge, its gateway address), or one line saying the lab has none."""
        net = self.lab.gateway_network
        if net is None or net.gateway is None:
            raise LabError(
                f"this step needs a network whose gateway is the lab's host; lab '{self.lab.name}' has none",
                "give a network gateway = \"ADDRESS\" (as the seed's [bridge]), or use the lab's own "
                "words: its hosts, networks, routes and rulesets",
            )
        return net

    def leg_on_gateway(self, name: str) -> tuple[Host, Interface]:
        """Host `name` and its interface on the gateway's network (the seed's veth1-red)."""
        host = self.lab.namespace(name)
        return host, self.lab.interface_on(host, self.gateway())

    # --- worlds ----------------------------------------------------------------------------

    def _start_scenario(self) -> None:
        """End the last scenario's world and forget what it ran and measured."""
        self.end_world()
        self.target.log.entries.clear()
        self.record = Record()

    def _enter(self, world: World, host_nft: bool | None) -> World:
        """`world` is the scenario's, its probes new. `host_nft`: whether its root holds
        native nft tables (False for a fresh world; None, unknown, for a real host's)."""
        self.world = world
        self._probes = LabProbes(
            world, self.lab, self.settings, host_nft=host_nft, docker=self.docker, traced=self._traced
        )
        self._probes.uncounted = self._uncounted
        return world

    def _traced(self, decisions: list[Decision]) -> None:
        """A scenario probe's traced decisions, to the run's rule coverage (a firewalld
        host's rules count nothing: nslab.coverage.firewalld)."""
        if self.coverage is not None:
            self.coverage.traced(decisions)

    def _uncounted(self) -> AbstractContextManager[None]:
        """nslab's own probes (a lost one sent again under nft's trace): counted for no
        rule by the run's rule coverage, whose hits are the scenarios' own traffic."""
        if self.coverage is None or self.world is None:
            return contextlib.nullcontext()
        return self.coverage.paused(self.world, explored=False)

    def new_world(self) -> World:
        """A fresh world for the next scenario; the one after it starts in the background."""
        self._start_scenario()
        host_fs = self.settings.host_fs
        pending, self._next = self._next or World.begin(self.target, host_fs=host_fs), None
        world = self._enter(pending.ready(), host_nft=False)
        self._next = World.begin(self.target, host_fs=host_fs)
        return world

    @property
    def may_use_host(self) -> bool:
        """Whether `@host` scenarios may change the target's real root namespace: only the
        vagrant target's machine is a disposable VM."""
        return self.target.disposable

    def host_world(self) -> World:
        """The target's real root namespace for a `@host` scenario: only on a disposable VM."""
        if not self.may_use_host:
            raise TargetError(
                f"@host scenarios change the real root namespace of the {self.target.name} target's machine",
                "run them on a disposable VM: behave -D target=vagrant",
            )
        self._start_scenario()
        return self._enter(HostWorld.open(self.target, self.lab), host_nft=None)

    def end_world(self) -> None:
        if self._probes is not None:
            self._probes.close()
            self._probes = None
        if self.world is not None:
            self.world.close()
            self.world = None
        self.docker.end()  # after the world: its Docker cgroups, removed by their reapers

    def close(self) -> None:
        self.end_world()
        if self._next is not None:
            self._next.cancel()
            self._next = None
        self.target.close()

    @property
    def w(self) -> World:
        """The scenario's world: the old name of `world`, kept for custom steps
        (`context.nslab.w.run(argv, ns="red")`), with one line where none is running."""
        if self.world is None:
            raise TargetError("no world is running", "steps run inside a scenario's world")
        return self.world

    # --- building --------------------------------------------------------------------------

    def provision(self, *, upto: str | None = None, only: list[str] | None = None) -> None:
        """The lab's stages, in the world; MissingFeature first if one needs what the target
        lacks (the seed's sysctl stage needs bridge netfilter)."""
        chosen = select(self.lab, upto, only)
        for stage in chosen:
            for need in stage.needs:
                self.require(need)
        provision(self.w, self.lab, upto=upto, only=only)
        self.docker.after_provision(self.w, self.lab, [s.name for s in chosen], self.written)
        # counted from the build on: the rulesets', and the managers' (ufw, firewalld) rules
        if self.coverage is not None and any(s.name in ("rulesets", "managers") for s in chosen):
            self.coverage.begin(self.w, self.lab, self.lab_path)

    # --- probing (nslab.probe.inlab), written into the record ---------------------------

    @property
    def probes(self) -> LabProbes:
        """The probes over the scenario's world and the current lab (names only, without a
        world). A lab or settings changed mid-world keep the world's helper."""
        p = self._probes
        if p is not None and p.world is self.world and p.lab is self.lab and p.settings is self.settings:
            return p
        new = LabProbes(self.world, self.lab, self.settings, docker=self.docker, traced=self._traced)
        new.uncounted = self._uncounted
        if p is not None and p.world is self.world:
            new.host_nft, new._prober = p.host_nft, p._prober
        elif p is not None:
            p.close()
        self._probes = new
        return new

    def namespace(self, name: str) -> str:
        """A lab namespace by name (`the internet`: the simulated upstream's)."""
        return self.probes.namespace(name)

    def address_of(
        self, where: str, v6: bool = False, src: str | None = None
    ) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
        return self.probes.address_of(where, v6, src)

    def addresses_of(self, where: str) -> list[str]:
        return self.probes.addresses_of(where)

    @property
    def firewalls(self) -> tuple[str, ...]:
        return self.probes.firewalls

    @property
    def written(self) -> dict[tuple[str, str, str], list[sources.Written]]:
        return self.probes.written

    @property
    def prober(self) -> ports.Prober:
        return self.probes.prober

    def ruleset_text(self, name: str) -> str:
        return self.probes.ruleset_text(name)

    def listen(self, name: str, proto: str, port: int | str) -> None:
        self.probes.listen(name, proto, port)

    def seen_by(self, name: str, proto: str, port: int | str) -> list[str]:
        return self.probes.seen_by(name, proto, port)

    def ping(
        self,
        src: str,
        dest: str,
        count: int = 3,
        v6: bool = False,
        size: int | None = None,
        df: bool = False,
        broadcast: bool = False,
    ) -> probe.Ping:
        self.record.flow, self.record.ping = (src, dest), None
        try:
            found = self.probes.ping(src, dest, count, v6, size, df, broadcast)
        except ProbeError as exc:
            self.record.result = exc.result  # type: ignore[assignment]
            raise
        return self.record.pinged(found)

    def connect(self, src: str, dest: str, proto: str, port: int | str, v6: bool = False) -> ports.Connection:
        """One TCP connection attempt or UDP datagram, with the rule that decided it."""
        self.record.flow, self.record.connection = (src, dest), None
        return self.record.connected(self.probes.connect(src, dest, proto, port, v6))

    def spoofed(
        self, src: str, dest: str, service: ports.Service, source: str, size: int = 0, df: bool = False
    ) -> ports.Connection:
        """A probe from `src` as another source address (nslab.probe.inlab.LabProbes.spoofed)."""
        self.record.flow, self.record.connection = (src, dest), None
        return self.record.connected(self.probes.spoofed(src, dest, service, source, size, df))

    def run_on_host(self, script: str) -> Result:
        """The blog's commands, typed at the host's prompt (the world's root namespace)."""
        self.record.result = self.probes.run_on_host(script)
        return self.record.result

    def lookup(self, src: str, name: str) -> probe.Lookup:
        self.record.lookup = None
        try:
            found = self.probes.lookup(src, name)
        except ProbeError as exc:
            self.record.result = exc.result  # type: ignore[assignment]
            raise
        self.record.lookup, self.record.result = found, found.raw
        return found
