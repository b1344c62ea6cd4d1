"""A lab session: one target, one lab, a fresh world per scenario. Knows nothing of behave.

The steps are glue over these methods; the CLI and the tests use them directly.

>>> s = LabSession.open(Settings())          # doctest: +SKIP
>>> s.new_world(); s.provision(upto="gateway")  # doctest: +SKIP
>>> s.ping("red", "the gateway").result.received  # doctest: +SKIP
3
"""

from __future__ import annotations

import contextlib
import html
import ipaddress
from dataclasses import dataclass, field, replace
from pathlib import Path

from nslab import firewall as firewalls_registry
from nslab import parse
from nslab.commands import Result
from nslab.config import Settings
from nslab.coverage.counts import Coverage
from nslab.errors import LabError, MissingFeature, NslabError, ProbeError, TargetError
from nslab.firewall import sources
from nslab.lab import Host, Interface, Lab, Network, default_lab, load_lab
from nslab.lab.checks import DOC4, DOC6
from nslab.machine.host_world import HostWorld
from nslab.machine.provision import check_rulesets, provision, select
from nslab.machine.targets import open_target
from nslab.machine.targets.base import Target
from nslab.machine.world import PendingWorld, World
from nslab.probe import checks as probe
from nslab.probe import ports
from nslab.probe.places import INTERNET_PLACES, facing, loopback, require_internet
from nslab.reach import landing
from nslab.report import diagnostics

# A ping waits `ping_interval` between requests: 100 per step keeps the longest step at
# seconds (a typo like "100000 times" would otherwise run for minutes to hours).
MAX_PINGS = 100


# What a lab, a stage or a step may need of its target: the check (run on the target) and
# the fix. One place: a scenario that needs one the target lacks skips, naming it.
NEEDS: dict[str, tuple[list[str], str]] = {
    "IPv6": (["test", "-e", "/proc/sys/net/ipv6/conf/all/forwarding"], "a kernel with IPv6"),
    "nft": (["sh", "-c", "command -v nft"], "apt-get install nftables"),
    "conntrack": (["sh", "-c", "command -v conntrack"], "apt-get install conntrack"),
    "bridge netfilter": (
        ["test", "-e", "/proc/sys/net/bridge/bridge-nf-call-iptables"],
        "load it with 'modprobe br_netfilter' on a disposable machine: a host-wide change, see nslab doctor",
    ),
}


@dataclass
class LabSession:
    settings: Settings
    target: Target
    lab: Lab
    world: World | None = None
    last_ping: probe.Ping | None = None
    last_result: Result | None = None
    last_lookup: probe.Lookup | None = None
    last_connection: ports.Connection | None = None
    _prober: ports.Prober | None = None
    # the latest ping or connection probe, whichever ran last: "which rule decided" steps
    last_verdict: probe.Ping | ports.Connection | None = None
    # for the report of a failure: the flow the failing probe tried (source, destination)
    # and, where a step compared expectations, its rows (from, to, service, expected, got, why)
    last_flow: tuple[str, str] | None = None
    expected_got: list[list[str]] = field(default_factory=list)
    run_lab: Lab | None = None  # the run's own lab (-D lab=...), for untagged features
    _labs: dict[Path, Lab] = field(default_factory=dict)
    _next: PendingWorld | None = None
    _missing: dict[str, str | None] = field(default_factory=dict)  # feature -> why it is missing
    _checked: set[int] = field(default_factory=set)  # labs whose rulesets loaded
    _told: set[str] = field(default_factory=set)  # skip reasons already said
    # whether the world's root holds native nft tables: None until asked. A fresh world has
    # none (no process spent asking, ~4 ms a scenario); a host command or a real host may.
    _host_nft: bool | None = None
    coverage: Coverage | None = None  # the run's rule coverage (behave runs; nslab.coverage.counts)
    lab_path: Path | None = None  # the current lab's file (None: the seed's, bundled)

    def missing_feature(self) -> str | None:
        """Why the current lab cannot run on this target (no IPv6, no nft), or None: its
        scenarios then skip with the reason, as the kernel's selftests do."""
        lab = self.lab
        needs = []
        if lab.v6:
            needs.append("IPv6")
        if any(r.kind == "nft" for r in (*lab.host_rulesets, *(r for h in lab.hosts for r in h.rulesets))):
            needs.append("nft")
        for name in needs:
            why = self.lacks(name)
            if why:
                return f"lab '{lab.name}' needs {why}"
        return None

    def lacks(self, name: str) -> str | None:
        """None if the target has the feature or tool `name` (NEEDS), else what it lacks and
        the fix, in words; asked once per run."""
        if name not in self._missing:
            argv, fix = NEEDS[name]
            ok = self.target.run(argv, timeout=10).ok
            self._missing[name] = None if ok else f"{name}, which {self.target.name} lacks ({fix})"
        return self._missing[name]

    def require(self, name: str) -> None:
        """MissingFeature (a skip, not a failure) when the target lacks `name`."""
        why = self.lacks(name)
        if why:
            raise MissingFeature(f"this scenario needs {why}")

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
            self._labs[path] = load_lab(path)
        self.lab = self._labs[path]

    def first_time(self, message: str) -> bool:
        """Whether `message` is new in this run (a skip reason is said once, not per scenario)."""
        new = message not in self._told
        self._told.add(message)
        return new

    def check_lab(self) -> None:
        """The current lab's rulesets load (in a throwaway world), checked once per run."""
        lab = self.lab
        if id(lab) in self._checked:
            return
        if lab.host_rulesets or any(h.rulesets for h in lab.hosts):
            with World.start(self.target) as scratch:
                check_rulesets(scratch, lab)
        self._checked.add(id(lab))

    @classmethod
    def open(cls, settings: Settings, userdata: dict[str, str] | None = None) -> LabSession:
        lab = settings.load_lab()  # validate the lab before touching any machine
        session = cls(settings, open_target(settings, userdata or {}), lab)
        try:
            if session.missing_feature() is None:
                session.check_lab()  # the user's rulesets, checked, not applied
        except NslabError:
            session.target.close()
            raise
        return session

    # --- worlds ----------------------------------------------------------------------------

    def _start_scenario(self) -> None:
        """End the last scenario's world and forget what it ran and saw."""
        self.end_world()
        self.target.log.entries.clear()
        self.last_ping = self.last_result = self.last_lookup = self.last_connection = self.last_verdict = None
        self.last_flow, self.expected_got = None, []
        self._host_nft = False  # a fresh world; host_world() and run_on_host() make it unknown

    def new_world(self) -> World:
        """A fresh world for the next scenario; the one after it starts in the background."""
        self._start_scenario()
        host_fs = self.settings.host_fs
        pending, self._next = self._next or World.begin(self.target, host_fs=host_fs), None
        self.world = pending.ready()
        self._next = World.begin(self.target, host_fs=host_fs)
        return self.world

    @property
    def is_seed_lab(self) -> bool:
        """Whether the lab has the seed's values (whatever its name): `@seed-literal`
        scenarios quote them and run on such a lab only."""
        seed = default_lab()
        return replace(self.lab, name=seed.name) == seed

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
        self.world = HostWorld.open(self.target, self.lab)
        self._host_nft = None  # a real machine's own nft tables, if any
        return self.world

    def end_world(self) -> None:
        if self._prober is not None:
            self._prober.close()
            self._prober = None
        if self.world is not None:
            self.world.close()
            self.world = None

    def close(self) -> None:
        self.end_world()
        if self._next is not None:
            self._next.cancel()
            self._next = None
        self.target.close()

    @property
    def w(self) -> World:
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
        if self.coverage is not None and any(s.name == "rulesets" for s in chosen):
            self.coverage.begin(self.w, self.lab, self.lab_path)

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

    # --- probing ---------------------------------------------------------------------------

    def namespace(self, name: str) -> str:
        """A lab namespace by name; `the internet` is the simulated upstream's (a probe's
        source, e.g. "the internet connects to the uplink on tcp port 80")."""
        if name in ("the internet", "the resolver"):  # the resolver runs on the internet
            require_internet(self.lab, name)
            return self.lab.upstream.namespace
        return self.lab.namespace(name).name

    def address_of(
        self, where: str, v6: bool = False, src: str | None = None
    ) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
        """A step's destination: a host, a named place or an address of the lab. From `src`
        (a probe's source), a host with several addresses is named by the one on the
        source's side: its address on a network the source shares, else the first one the
        source has a route to (its first address may be on a network the source cannot
        reach: the probe would never leave)."""
        if where in INTERNET_PLACES:
            require_internet(self.lab, where)
        own = loopback(self.lab, where, v6, src)
        if own is not None:
            return own
        addr = self.lab.resolve(where, v6)
        host = next((h for h in self.lab.hosts if h.name == where), None)
        if src is None or host is None or len(host.addresses(v6)) < 2:
            return addr
        return facing(self.lab, self.world, host, v6, src, self.namespace(src)) or addr

    def addresses_of(self, where: str) -> list[str]:
        """Every address a place has, in each family the lab gives it (IPv4 first), or the
        address a step names; for records of who sent (who pinged the internet, a
        listener's peers): a host with several addresses sends from the one its route
        picks, and the internet sends from its wan address (`the isp`, 198.51.100.2) and is
        reached at its server's (203.0.113.10): either is the internet."""
        found: list[str] = []
        host = next((h for h in self.lab.hosts if h.name == where), None)
        for v6 in (False, True):
            if host is not None:
                found += [str(a) for a in host.addresses(v6)]
                continue
            with contextlib.suppress(LabError):  # no address in that family
                found.append(str(self.address_of(where, v6)))
                if where == "the internet":
                    found.append(str(self.address_of("the isp", v6)))
        return found or [str(self.address_of(where))]  # neither: the IPv4 error, naming the places

    def seen_by_the_internet(self) -> list[str]:
        """Who pinged the simulated internet, in every family its upstream has."""
        upstream = self.lab.upstream
        return probe.seen_sources(self.w, upstream.namespace, v6=upstream.server6 is not None)

    def ruleset_text(self, name: str) -> str:
        """A place's rules as its own tool lists them (`nft list ruleset` for a host with an
        nft file, else iptables-save and ip6tables-save): "the host" is the lab's host."""
        where = "host" if name == "the host" else self.namespace(name)
        tool = next((s.partition(":")[2] for s in self.firewalls if s.partition(":")[0] == where), None)
        if tool is None:  # a host with neither rules nor routing: the lab's backend
            tool = self.lab.backend_tool
        ns = None if where == "host" else where
        listing = firewalls_registry.get(tool).listing
        text = "".join(self.w.run(list(argv), ns=ns).stdout for argv in listing)
        # rule coverage's counting rules are nslab's, not the host's (nslab.coverage.counts)
        return parse.without_nslab(text)

    @property
    def written(self) -> dict[tuple[str, str, str], list[sources.Written]]:
        """The lab's rules as its ruleset files write them, for "which rule decided"."""
        return sources.of_lab(self.lab)

    @property
    def firewalls(self) -> tuple[str, ...]:
        """Where the lab's rules live, for "which rule decided" (PLACE:TOOL); the lab's host
        read with nft too where it holds native nft tables (a step's `nft add table ...`)."""
        places = self.lab.firewall_places
        if self._host_nft is None:
            listed = self.w.run(["nft", "list", "tables"]).stdout if self.world is not None else ""
            tables = {
                " ".join(line.split()[1:3]) for line in listed.splitlines() if line.startswith("table ")
            }
            self._host_nft = bool(tables - firewalls_registry.IPTABLES_TABLES)
        if not self._host_nft:
            return places
        return tuple("host:iptables+nft" if p.startswith("host:") else p for p in places)

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
        ns = self.namespace(src)
        addr = self.address_of(dest, v6, src)
        self.last_flow = (src, dest)
        if not 1 <= count <= MAX_PINGS:
            raise LabError(f"{count} pings is out of range", f"ping 1 to {MAX_PINGS} times")
        if size is not None and not 0 <= size <= 65507:
            raise LabError(f"{size} bytes of data is out of range", "ping 0 to 65507 bytes of data")
        self.last_ping = None
        self.record_pings()
        try:
            self.last_ping = probe.ping(
                self.w,
                ns,
                addr,
                count=count,
                interval=self.settings.ping_interval,
                wait=self.settings.ping_wait,
                firewalls=self.firewalls,
                written=self.written,
                size=size,
                df=df,
                broadcast=broadcast,
            )
        except ProbeError as exc:
            self.last_result = exc.result  # type: ignore[assignment]
            raise
        if self.last_ping.lost:
            lost = ports.Outcome("lost")
            note = self.unrouted_rejects(src, ports.Service("icmp", 0, v6), lost, self.last_ping.evidence)
            self.last_ping = replace(self.last_ping, note=note)
        self.last_verdict = self.last_ping
        return self.last_ping

    # --- ports: listeners, connection probes, the reachability matrix ----------------------

    @property
    def prober(self) -> ports.Prober:
        """The world's netprobe helper, started on first use."""
        if self._prober is None or self._prober.world is not self.w:
            self._prober = ports.Prober(self.w)
        self._prober.written = self.written
        return self._prober

    def listen(self, name: str, proto: str, port: int | str) -> None:
        self.prober.listen(self.namespace(name), ports.check_protocol(proto), ports.check_port(port))

    def seen_by(self, name: str, proto: str, port: int | str) -> list[str]:
        """The peers a listener saw; for TCP also the half-open connections waiting on it (a
        SYN whose answer went elsewhere: a spoofed source never completes the handshake)."""
        ns, proto, number = self.namespace(name), ports.check_protocol(proto), ports.check_port(port)
        seen = self.prober.seen(ns, proto, number)
        if proto == "tcp":
            listing = self.w.run(
                ["ss", "-Htn", "state", "syn-recv", "sport", "=", f":{number}"], ns=ns
            ).stdout
            seen += [probe.plain_peer(line.split()[-1]) for line in listing.splitlines() if line.split()]
        return seen

    def target_spec(self, src: str, dest: str, service: ports.Service) -> dict[str, object]:
        """A probe as the helper takes it; every name checked against the lab first."""
        ns = self.namespace(src)
        return {
            "ns": ns,
            "proto": service.proto,
            "dst": str(self.address_of(dest, service.v6, src)),
            "port": service.port,
            "timeout": self.settings.probe_wait if service.proto != "icmp" else self.settings.ping_wait,
        }

    def connect(self, src: str, dest: str, proto: str, port: int | str, v6: bool = False) -> ports.Connection:
        """One TCP connection attempt or UDP datagram, with the rule that decided it."""
        service = ports.Service(ports.check_protocol(proto), ports.check_port(port), v6)
        spec = self.target_spec(src, dest, service)
        self.last_connection = None
        self.last_flow = (src, dest)
        (raw,), evidence = self.prober.probe([spec], self.firewalls)
        if raw.get("outcome") is None:
            raise ProbeError(
                f"{service.words()} probe from {src} to {dest} did not run: {raw.get('error')}, "
                "so there is no verdict",
                "the lab's namespaces are made by 'Given the lab'; did a step delete it?",
            )
        outcome = ports.Outcome.from_reply(raw)
        note = self.unrouted_rejects(src, service, outcome, evidence)
        # where a DNAT or redirect sent it (nslab.reach.landing)
        landed = "" if outcome.lost else landing.landed(self.w, self.lab, self.written, raw, evidence)
        self.last_connection = ports.Connection(
            src, dest, str(spec["dst"]), service, outcome, evidence, note, landed=landed
        )
        self.last_verdict = self.last_connection
        return self.last_connection

    def spoofed(
        self, src: str, dest: str, service: ports.Service, source: str, size: int = 0, df: bool = False
    ) -> ports.Connection:
        """A probe from `src` with another source address, `source` (rpath.sh's point: does
        reverse-path filtering drop it?), sent from `src`'s namespace with IP_TRANSPARENT.
        Its answer goes to `source`, not back: whether it arrived is the destination's to
        say (`NAME saw pings from ADDRESS`); the destination listens for it here."""
        try:
            addr = ipaddress.ip_address(source)
        except ValueError:
            raise LabError(
                f"{source!r} is not an address", "write it like 10.51.2.99 or 2001:db8:51:2::99"
            ) from None
        subnets = [s for n in self.lab.networks for s in (n.subnet, n.subnet6) if s is not None]
        if not any(addr.version == s.version and addr in s for s in (*subnets, *DOC4, DOC6)):
            raise LabError(
                f"{source} is in neither the lab's networks nor a documentation range (its answers go there)",
                "spoof an address of the lab's networks or a documentation range (198.51.100.0/24 ...)",
            )
        service = ports.Service(service.proto, service.port, addr.version == 6)
        if not 0 <= size <= 65507:
            raise LabError(f"{size} bytes of data is out of range", "ping 0 to 65507 bytes of data")
        spec = {**self.target_spec(src, dest, service), "from": source, "size": size, "df": df}
        host = next((h for h in self.lab.hosts if h.name == dest), None)
        listener = self.upstream_or(dest) if host is None else host.name
        if service.proto == "icmp":
            self.record_pings()
        if listener is not None:
            self.prober.request("listen", ns=listener, proto=service.proto, port=service.port)
        self.last_connection, self.last_flow = None, (src, dest)
        (raw,), evidence = self.prober.probe([spec], self.firewalls)
        if raw.get("outcome") is None:
            raise ProbeError(
                f"the probe from {src} as {source} did not run: {raw.get('error')}, so there is no verdict"
            )
        outcome = ports.Outcome.from_reply(raw)
        conn = ports.Connection(src, dest, str(spec["dst"]), service, outcome, evidence, spoofed=source)
        self.last_connection = self.last_verdict = conn
        return conn

    def upstream_or(self, dest: str) -> str | None:
        """The upstream's namespace for "the internet", else None."""
        return self.lab.upstream.namespace if dest == "the internet" else None

    def record_pings(self) -> None:
        """Every lab namespace records the echo requests it receives, before a ping is sent
        (to a host, an address or a broadcast: each place that got one can say so)."""
        self.prober.record_echoes([h.name for h in self.lab.hosts])

    def seen_pings(self, name: str) -> list[str]:
        """The sources of the echo requests `name` received since the scenario's first ping."""
        return self.prober.seen_echoes(self.namespace(name))

    def unrouted_rejects(
        self, src: str, service: ports.Service, outcome: ports.Outcome, evidence: ports.Evidence
    ) -> str:
        """A REJECT counted the probe, yet no ICMP error came back: say whether the place that
        rejected has a route to the source at all (without one its error goes nowhere, and a
        reject looks like a drop)."""
        if outcome.outcome not in ("dropped", "no answer", "lost"):
            return ""
        source = str(self.address_of(src, service.v6))
        notes = []
        for place in dict.fromkeys(d.where for d in evidence.decisions if d.target == "REJECT"):
            ns = None if place == "host" else place
            if not self.w.run(["ip", "route", "get", source], ns=ns).ok:
                why = f"{place} has no route to {source}"
                notes.append(f"{place} rejected it, but the error could not reach {src}: {why}")
        return "; ".join(notes)

    def run_on_host(self, script: str) -> Result:
        """The blog's commands, typed at the host's prompt (the world's root namespace)."""
        # One stream, as a terminal shows it: errors interleaved with output in order.
        raw = self.w.run(["bash", "-c", "exec 2>&1\n" + script], timeout=120)
        self._host_nft = None  # the commands may have made nft tables of their own
        self.last_result = replace(raw, command=script.strip())  # shown as typed, without the wrapper
        return self.last_result

    def lookup(self, src: str, name: str) -> probe.Lookup:
        self.last_lookup = None
        try:
            self.last_lookup = probe.lookup(self.w, self.namespace(src), name)
        except ProbeError as exc:
            self.last_result = exc.result  # type: ignore[assignment]
            raise
        self.last_result = self.last_lookup.raw
        return self.last_lookup

    # --- reporting -------------------------------------------------------------------------

    def live_diagram(self) -> str:
        """What the world really holds, as SVG (Mermaid text without Graphviz), with the last
        flow's source and destination marked. A scenario may stop the story at any stage, so
        nothing is marked missing against the full lab file."""
        from nslab.report import diagram

        try:
            topo = diagram.live(self.w, self.lab)
            try:
                return diagram.render(self.lab, topo, "svg", marks=self._flow_marks()).decode()
            except NslabError:
                return "<pre>" + html.escape(diagram.to_mermaid(self.lab, topo)) + "</pre>"
        except NslabError as exc:
            return f"<p>no diagram: {html.escape(str(exc))}</p>"

    def _flow_marks(self) -> dict[str, str]:
        """The namespaces of the last flow's ends: {namespace: "source" | "destination"}."""
        marks: dict[str, str] = {}
        if self.last_flow is None:
            return marks
        for name, role in zip(self.last_flow, ("source", "destination"), strict=True):
            # namespace() knows "the internet" (the upstream's); an address or "the gateway"
            # is no namespace and stays unmarked
            with contextlib.suppress(NslabError):
                marks.setdefault(self.namespace(name), role)
        return marks

    def deciding_places(self) -> list[str]:
        """The places whose rules decided the last probe (for the report's diagnostics order)."""
        verdict = self.last_verdict
        evidence = getattr(verdict, "evidence", None)
        if evidence is None:
            return []
        lost = bool(getattr(verdict, "lost", False))
        return list(dict.fromkeys(d.where for d in evidence.deciding(lost=lost) or evidence.decisions))

    def diagnostics(self) -> str:
        if self.world is None or not self.world.alive():
            return "(no world was running)\n" + self.target.log.render()
        extra = {}
        if self.last_ping is not None:
            extra["last ping"] = (
                f"$ {self.last_ping.raw.command}\n{self.last_ping.raw.output}\nwhy: {self.last_ping.why()}"
            )
        if self.last_connection is not None:
            c = self.last_connection
            extra["last connection"] = f"{c.describe()}\nwhy: {c.why()}"
        if self.last_result is not None:
            extra["last command"] = f"$ {self.last_result.command}\n{self.last_result.output}"
        try:
            return diagnostics.collect(
                self.w, self.lab, extra=extra, command_log=self.target.log.render(), firewalls=self.firewalls
            )
        except NslabError as exc:
            return f"(diagnostics incomplete: {exc})\n" + self.target.log.render()
