"""A scenario's probes over one world, one lab and the run's settings: a step's places as
namespaces and addresses, pings, connection probes, listeners, look-ups, and the rules
that decided each. They return what they measured; the session keeps the record.

>>> p = LabProbes(None, default_lab(), Settings())  # doctest: +SKIP
>>> p.namespace("red")  # doctest: +SKIP
'red'
"""

from __future__ import annotations

import contextlib
import ipaddress
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field, replace

from nslab import firewall as firewalls_registry
from nslab import parse
from nslab.commands import Result
from nslab.config import Settings
from nslab.errors import NO_LAB_FIX, LabError, ProbeError, TargetError
from nslab.firewall import places as firewall_places
from nslab.firewall import sources
from nslab.firewall.evidence import HOST, Decision
from nslab.lab import Lab
from nslab.lab.checks import DOC4, DOC6
from nslab.machine.world import World
from nslab.managers import evidence as managed_evidence
from nslab.managers.docker_session import DockerRun
from nslab.probe import checks as probe
from nslab.probe import landing, neighbours, ports
from nslab.probe.flow import Flow
from nslab.probe.places import INTERNET_PLACES, facing, loopback, require_internet
from nslab.probe.spec import Spec, wait
from nslab.probe.traced import retraced_ping, retraced_probe, traced_ping, traced_probe, undecided

# A ping waits `ping_interval` between requests: 100 per step keeps the longest step at
# seconds (a typo like "100000 times" would otherwise run for minutes to hours).
MAX_PINGS = 100


@dataclass
class LabProbes:
    world: World | None  # None: names and addresses only, no probe
    lab: Lab
    settings: Settings
    # whether the world's root holds native nft tables: None until asked. A fresh world has
    # none (no process spent asking, ~4 ms a scenario); a host command or a real host may.
    host_nft: bool | None = False
    docker: DockerRun | None = None  # the world's dockerds: their containers, rules, places
    # told each traced probe's decisions (the run's rule coverage of a firewalld host)
    traced: Callable[[list[Decision]], None] | None = None
    # around nslab's own probes (a lost one sent again under the trace): the session pauses
    # the run's rule coverage there (nslab.coverage.counts)
    uncounted: Callable[[], AbstractContextManager[None]] = contextlib.nullcontext
    _prober: ports.Prober | None = field(default=None, repr=False)

    @property
    def w(self) -> World:
        if self.world is None:
            raise TargetError("no world is running", "steps run inside a scenario's world")
        return self.world

    def close(self) -> None:
        if self._prober is not None:
            self._prober.close()
            self._prober = None

    # --- places ----------------------------------------------------------------------------

    def namespace(self, name: str) -> str:
        """A lab namespace by name; `the internet` is the simulated upstream's (a probe's
        source, e.g. "the internet connects to the uplink on tcp port 80")."""
        if name in ("the internet", "the resolver"):  # the resolver runs on the internet
            require_internet(self.lab, name)
            return self.lab.upstream.namespace
        container = self.docker.namespace(self.lab, name) if self.docker else None
        return container or self.lab.namespace(name).name

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

    def upstream_or(self, dest: str) -> str | None:
        """The upstream's namespace for "the internet", else None."""
        return self.lab.upstream.namespace if dest == "the internet" else None

    # --- the rules -------------------------------------------------------------------------

    @property
    def written(self) -> dict[tuple[str, str, str], list[sources.Written]]:
        """The lab's rules as its ruleset files write them, for "which rule decided"; and
        Docker's, as dockerd wrote them (made by Docker)."""
        return sources.of_lab(self.lab) | (self.docker.written() if self.docker else {})

    @property
    def firewalls(self) -> tuple[str, ...]:
        """Where the lab's rules live, for "which rule decided" (PLACE:TOOL); the lab's host
        read with nft too where it holds native nft tables (a step's `nft add table ...`)."""
        places = firewall_places.firewall_places(self.lab)
        if self.docker is not None:  # Docker hosts' places, read with dockerd's iptables
            places = self.docker.firewalls(self.lab, places)
        if self.host_nft is None:
            self.host_nft = self.world is not None and firewall_places.host_has_native_nft(self.w)
        return firewall_places.read_host_with_nft(places) if self.host_nft else places

    def ruleset_text(self, name: str) -> str:
        """A place's rules as its own tool lists them (`nft list ruleset` for a host with an
        nft file, else iptables-save and ip6tables-save): "the host" is the lab's host."""
        where = "host" if name == "the host" else self.namespace(name)
        tool = next((s.partition(":")[2] for s in self.firewalls if s.partition(":")[0] == where), None)
        if tool is None:  # a host with neither rules nor routing: the lab's backend
            tool = firewall_places.backend_tool(self.lab)
        ns = None if where == "host" else where
        listing = firewalls_registry.get(tool).listing
        text = "".join(self.w.run(list(argv), ns=ns).stdout for argv in listing)
        # rule coverage's counting rules are nslab's, not the host's (nslab.coverage.counts)
        return parse.without_nslab(text)

    def run_on_host(self, script: str) -> Result:
        """The blog's commands, typed at the host's prompt (the world's root namespace)."""
        # One stream, as a terminal shows it: errors interleaved with output in order.
        raw = self.w.run(["bash", "-c", "exec 2>&1\n" + script], timeout=120)
        self.host_nft = None  # the commands may have made nft tables of their own
        return replace(raw, command=script.strip())  # shown as typed, without the wrapper

    # --- probes ----------------------------------------------------------------------------

    @property
    def prober(self) -> ports.Prober:
        """The world's netprobe helper, started on first use."""
        if self._prober is None or self._prober.world is not self.w:
            self._prober = ports.Prober(self.w)
        self._prober.written = self.written
        return self._prober

    def spec(self, src: str, dest: str, service: ports.Service) -> Spec:
        """A probe as the helper takes it; every name checked against the lab first."""
        ns = self.namespace(src)
        dst = str(self.address_of(dest, service.v6, src))
        return Spec(ns, service.proto, dst, service.port, wait(self.settings, service.proto))

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
        """A ping with the rules that decided it; ProbeError (its raw run attached) where
        ping could not run at all."""
        ns = self.namespace(src)
        addr = self.address_of(dest, v6, src)
        if not 1 <= count <= MAX_PINGS:
            raise LabError(f"{count} pings is out of range", f"ping 1 to {MAX_PINGS} times")
        if size is not None and not 0 <= size <= 65507:
            raise LabError(f"{size} bytes of data is out of range", "ping 0 to 65507 bytes of data")
        self.record_pings()
        traced = managed_evidence.traced(self.lab)  # a firewalld host's rules count nothing

        def run() -> probe.Ping:
            return probe.ping(
                self.w,
                ns,
                addr,
                count=count,
                interval=self.settings.ping_interval,
                wait=self.settings.ping_wait,
                firewalls=() if traced else self.firewalls,
                written=self.written,
                size=size,
                df=df,
                broadcast=broadcast,
            )

        found = traced_ping(self.w, self.firewalls, self.written, str(addr), run) if traced else run()
        if traced and self.traced is not None:
            self.traced(list(found.evidence.decisions))
        # a drop policy nft counts not drops every request: a partial loss is no policy's
        if not traced and found.result.received == 0 and undecided(found.evidence, found.lost):
            with self.uncounted():
                found = retraced_ping(self.w, self.firewalls, self.written, str(addr), run, found)
        found = replace(found, evidence=managed_evidence.credit(self.lab, found.evidence))  # made by ufw
        if found.lost:
            lost = ports.Outcome("lost")
            note = self.unrouted_rejects(src, ports.Service("icmp", 0, v6), lost, found.evidence)
            # a ping's lost requests are lost however the kernel answered them (its count says)
            _, nd = self.undiscovered(src, Spec(ns, "icmp", str(addr), 0, 0), lost, found.evidence)
            found = replace(found, note="; ".join(n for n in (note, nd) if n))
        return found

    def connect(self, src: str, dest: str, proto: str, port: int | str, v6: bool = False) -> ports.Connection:
        """One TCP connection attempt or UDP datagram, with the rule that decided it."""
        service = ports.Service(ports.check_protocol(proto), ports.check_port(port), v6)
        spec = self.spec(src, dest, service)
        if managed_evidence.traced(self.lab):  # a firewalld host's rules count nothing
            raw, evidence = traced_probe(self.w, self.prober, self.firewalls, self.written, spec.request())
            if self.traced is not None:
                self.traced(list(evidence.decisions))
        else:
            (raw,), evidence = self.prober.probe([spec.request()], self.firewalls)
        evidence = managed_evidence.credit(self.lab, evidence)  # "(made by ufw)"
        if raw.get("outcome") is None:
            raise ProbeError(
                f"{service.words()} probe from {src} to {dest} did not run: {raw.get('error')}, "
                "so there is no verdict",
                NO_LAB_FIX,
            )
        outcome = ports.Outcome.from_reply(raw)
        if undecided(evidence, outcome.lost):  # a drop policy nft counts not: the trace says
            with self.uncounted():
                again = retraced_probe(
                    self.w, self.prober, self.firewalls, self.written, spec.request(), raw, evidence
                )
            evidence = managed_evidence.credit(self.lab, again)
        outcome, nd_note = self.undiscovered(src, spec, outcome, evidence)
        note = "; ".join(n for n in (self.unrouted_rejects(src, service, outcome, evidence), nd_note) if n)
        # where a DNAT or redirect sent it (nslab.probe.landing)
        landed = "" if outcome.lost else landing.landed(self.w, self.lab, self.written, raw, evidence)
        return ports.Connection(Flow.of(src, dest, service), spec.dst, outcome, evidence, note, landed=landed)

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
        spec = replace(self.spec(src, dest, service), source=source, size=size, df=df)
        host = next((h for h in self.lab.hosts if h.name == dest), None)
        listener = self.upstream_or(dest) if host is None else host.name
        if service.proto == "icmp":
            self.record_pings()
        if listener is not None:
            self.prober.request("listen", ns=listener, proto=service.proto, port=service.port)
        (raw,), evidence = self.prober.probe([spec.request()], self.firewalls)
        if raw.get("outcome") is None:
            raise ProbeError(
                f"the probe from {src} as {source} did not run: {raw.get('error')}, so there is no verdict"
            )
        outcome = ports.Outcome.from_reply(raw)
        return ports.Connection(Flow.of(src, dest, service), spec.dst, outcome, evidence, spoofed=source)

    def undiscovered(
        self, src: str, spec: Spec, outcome: ports.Outcome, evidence: ports.Evidence
    ) -> tuple[ports.Outcome, str]:
        """An IPv6 probe lost where the neighbour table of its source (or of the router
        that answered) holds its way's next hop unresolved: a note naming it (the counters
        name the rule that dropped the discovery, or only a policy that also counted it).
        Answered as the kernel answers a failed discovery, with no REJECT rule counting
        it, its outcome is the protocol's silent one, however soon that answer came
        (nslab.probe.neighbours). IPv4's: _unanswered_arp."""
        answered = neighbours.answered(outcome.outcome, outcome.icmp, outcome.error)
        silent = neighbours.SILENT[spec.proto]
        if not (answered or outcome.outcome == silent):
            return outcome, ""
        if answered and any(d.target == "REJECT" for d in evidence.decisions):
            return outcome, ""
        if ":" not in spec.dst:
            return self._unanswered_arp(spec, outcome, evidence, answered)
        routers = [h.name for h in self.lab.hosts if outcome.by in {str(a) for a in h.addresses(True)}]
        for ns in dict.fromkeys([self.namespace(src), *routers]):
            hop = neighbours.unresolved(self.w, ns, spec.dst)
            if hop is None:
                continue
            why = f"neighbour discovery failed: {ns} got no answer for {hop}"
            if not answered:
                return outcome, why
            silenced = ports.Outcome(silent, seconds=outcome.seconds, sport=outcome.sport)
            return silenced, f"{why} {neighbours.because(silent)}"
        return self._unanswered_arp(spec, outcome, evidence, answered)

    def _unanswered_arp(
        self, spec: Spec, outcome: ports.Outcome, evidence: ports.Evidence, answered: bool
    ) -> tuple[ports.Outcome, str]:
        """A probe a DNAT sent to an address whose neighbour the translating place could not
        resolve (IPv4's ARP, IPv6's discovery), no rule dropping it: the protocol's silent
        loss, naming the address (nslab.reach.discovery, explore's same reading). A
        host-unreachable may be a rule's, so only the translating place's conntrack entry
        says where it went (its answer is awaited from there, not where it was addressed)."""
        if any(d.drops for d in evidence.decisions):
            return outcome, ""
        sent = landing.sent_to(self.w, self.written, {"sport": outcome.sport}, evidence)
        if sent is None:
            return outcome, ""
        hop = neighbours.unresolved(self.w, None if sent[0] == HOST else sent[0], sent[1])
        if hop is None:
            return outcome, ""
        silent = neighbours.SILENT[spec.proto]
        quiet = ports.Outcome(silent, seconds=outcome.seconds, sport=outcome.sport) if answered else outcome
        return quiet, neighbours.arp_failed(sent[0], hop, silent)

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

    def lookup(self, src: str, name: str) -> probe.Lookup:
        return probe.lookup(self.w, self.namespace(src), name)

    # --- listeners and what they saw -------------------------------------------------------

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

    def seen_by_the_internet(self) -> list[str]:
        """Who pinged the simulated internet, in every family its upstream has."""
        upstream = self.lab.upstream
        return probe.seen_sources(self.w, upstream.namespace, v6=upstream.server6 is not None)

    def record_pings(self) -> None:
        """Every lab namespace records the echo requests it receives, before a ping is sent
        (to a host, an address or a broadcast: each place that got one can say so)."""
        self.prober.record_echoes([h.name for h in self.lab.hosts])

    def seen_pings(self, name: str) -> list[str]:
        """The sources of the echo requests `name` received since the scenario's first ping."""
        return self.prober.seen_echoes(self.namespace(name))
