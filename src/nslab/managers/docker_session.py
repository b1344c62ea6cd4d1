"""Docker in a lab session: which daemons the scenario's world runs, started when the
lab's hosts exist (after the provision call that built the networks: rulesets loaded by
that call are in place first, as a host's firewall is before its Docker starts at boot),
or on the lab's host by `Given Docker runs on the host`; ended with the world.

The session (nslab.scenario.session) calls these hooks; everything Docker-specific stays here.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from nslab.commands import Runner
from nslab.errors import LabError, MissingFeature, TargetError
from nslab.firewall import get_kind
from nslab.firewall.evidence import Sources, Written
from nslab.firewall.iptables_parse import iptables_save
from nslab.firewall.places import read_beside_xtables, ruleset_tool
from nslab.lab import Host, Lab
from nslab.lab.docker import Container, DockerSpec
from nslab.machine.targets.base import Target
from nslab.machine.world import World
from nslab.managers import docker
from nslab.managers.common import add_env_hook

HOST = "host"  # the lab's host (the world's root namespace), as evidence names it
MADE_BY = "Docker"
# the chains dockerd makes and fills (its FORWARD jumps are in FORWARD, which a lab's
# own rules may share: those are Docker's only while nothing else wrote there)
DOCKER_CHAINS = ("DOCKER", "DOCKER-USER", "DOCKER-ISOLATION-STAGE-1", "DOCKER-ISOLATION-STAGE-2")


def host_env(lab: Lab, host: Host) -> dict[str, str]:
    """For `When web runs "docker ..."` (nslab.managers.common's per-host hook): a Docker
    host's commands talk to its own daemon (DOCKER_HOST of its private socket)."""
    return docker.docker_env(host.name) if host.docker is not None else {}


add_env_hook(host_env)


def docker_hosts(lab: Lab) -> dict[str, DockerSpec]:
    return {h.name: h.docker for h in lab.hosts if h.docker is not None}


def containers(lab: Lab) -> dict[str, tuple[str, Container]]:
    """Every container of the lab by name, with the host it runs on."""
    return {c.name: (host, c) for host, spec in docker_hosts(lab).items() for c in spec.containers}


@dataclass
class DockerRun:
    """The daemons of the current world, by place ("host" for the lab's host)."""

    daemons: dict[str, docker.Daemon] = field(default_factory=dict)
    _missing: dict[int, str | None] = field(default_factory=dict)
    # what each daemon wrote, read once it was ready: (place, table, chain) -> its rules
    _written: dict[tuple[str, str, str], list[Written]] = field(default_factory=dict)

    def missing(self, target: Target) -> str | None:
        """Why Docker cannot run on `target` (the package to install), asked once a target."""
        if id(target) not in self._missing:
            self._missing[id(target)] = docker.missing(target)
        return self._missing[id(target)]

    def require(self, world: World) -> None:
        why = self.missing(world.target)
        if why:
            raise MissingFeature(f"this scenario needs Docker: {why}")
        if world.info.pid == 0:  # a @host scenario's real root namespace (HostWorld)
            raise MissingFeature(
                "Docker runs inside a world only (its PID namespace ends it): "
                "a @host scenario's Docker would be the machine's own"
            )

    def after_provision(
        self, world: World, lab: Lab, stages: Iterable[str], base: Sources, detach: bool = False
    ) -> None:
        """Docker on every lab host that declares it, once the networks stage has run
        (`detach`: for a persistent world, `nslab up`)."""
        if "networks" not in stages:
            return
        for name, spec in docker_hosts(lab).items():
            if name not in self.daemons:
                self.require(world)
                data = docker.check_daemon_file(spec)
                daemon = docker.start(world, name, name, spec, data, started=self._spawned, detach=detach)
                self._written.update(docker_written(daemon, base))
                two_backends(lab, name, daemon.backend)

    def on_host(self, world: World) -> docker.Daemon:
        """`Given Docker runs on the host`: dockerd in the world's root namespace."""
        if HOST in self.daemons:
            return self.daemons[HOST]
        self.require(world)
        daemon = docker.start(world, HOST, None, DockerSpec(), started=self._spawned)
        self._written.update(docker_written(daemon, {}))
        return daemon

    def _spawned(self, daemon: docker.Daemon) -> None:
        self.daemons[daemon.key] = daemon

    def end(self) -> None:
        """After the world ended: its daemons' cgroups removed (by their reapers)."""
        daemons, self.daemons = self.daemons, {}
        self._written = {}
        left = docker.finish(daemons)
        if left:
            raise TargetError(
                f"Docker's cgroups {', '.join(left)} could not be removed",
                "a process is still in them: look at /sys/fs/cgroup/*/nslab-docker-*",
            )

    # --- what the session asks of it -----------------------------------------------------

    def namespace(self, lab: Lab, name: str) -> str | None:
        """A container's namespace (attached under its name), or None for any other name."""
        return name if name in containers(lab) else None

    def firewalls(self, lab: Lab, places: tuple[str, ...]) -> tuple[str, ...]:
        """The lab's firewall places, and every Docker host's, read with the tool of
        dockerd's iptables; a host whose own file is native nft is read with both
        (iptables+nft: Docker's tables and the user's, each counted)."""
        out = list(places)
        where = {p.partition(":")[0]: i for i, p in enumerate(out)}
        xtables = get_kind("iptables")  # Docker's rules are iptables rules: that kind reads them
        for name in docker_hosts(lab):
            d = self.daemons.get(name)
            reader = xtables.tool(d.backend if d is not None else "nf_tables")  # as its files load
            if name not in where:
                out.append(f"{name}:{reader}")
            elif reader == xtables.tool("nf_tables"):  # Docker's iptables-nft beside the host's own nft file
                out[where[name]] = read_beside_xtables(out[where[name]])
        if HOST in self.daemons and HOST not in where:
            out.append("host:iptables4")
        return tuple(out)

    def written(self) -> dict[tuple[str, str, str], list[Written]]:
        return self._written

    def diagnostics(self) -> dict[str, str]:
        """For a failed scenario's bundle: each daemon's containers and its log's end."""
        out = {}
        for key, d in self.daemons.items():
            ps = d.docker(["ps", "-a", "--format", "{{.Names}} {{.Status}} {{.Ports}}"], check=False)
            log = d.log_tail(20, sep="\n")
            out[f"docker on {key}"] = f"$ docker ps -a\n{ps.output}\n$ tail dockerd.log\n{log}"
        return out


def check_backends(runner: Runner, lab: Lab) -> None:
    """`nslab validate`: the lab's iptables files in the backend Docker's rules would be
    in (that of `runner`'s iptables, which dockerd runs), for every host with Docker."""
    hosts = docker_hosts(lab)
    if hosts:
        backend = "legacy" if "(legacy)" in runner.run(["iptables", "-V"]).stdout else "nf_tables"
        for name in hosts:
            two_backends(lab, name, backend)


def two_backends(lab: Lab, name: str, backend: str) -> None:
    """One line naming both where a host's own rules and Docker's are in different
    iptables backends (legacy and nf_tables): packets meet both, and nslab reads one
    backend per place, so a verdict there could name the wrong rule: none is given."""
    host = lab.namespace(name)
    files = [r for r in host.rulesets if get_kind(r.kind).front == "xtables"]
    theirs = "legacy" if ruleset_tool(lab, "iptables") == "legacy" else "nf_tables"
    if files and theirs != backend:
        mine, docker_s = (b.replace("nf_tables", "nft") for b in (theirs, backend))
        raise LabError(
            f"{name} holds rules in both iptables-{mine} ({files[0].path.name}, the lab's backend) and "
            f"iptables-{docker_s} (Docker's, through this machine's iptables): each packet meets both, "
            "and nslab reads one per place",
            "give the lab the backend of the machine's iptables (`iptables -V` says which), "
            "as Docker on that host would have it",
        )


def dockers(spec: str, bridge: ipaddress.IPv4Network) -> bool:
    """Whether a rule in a chain Docker shares (FORWARD, nat POSTROUTING ...) is one of
    Docker's: a jump to its chains, a rule on its bridge or for its containers' addresses."""
    if re.search(r"-j DOCKER\b|\bdocker0\b", spec):
        return True
    found = [ipaddress.ip_network(a, strict=False) for a in re.findall(r"-[sd] (\S+)", spec)]
    return bool(found) and all(isinstance(n, ipaddress.IPv4Network) and n.subnet_of(bridge) for n in found)


def docker_written(daemon: docker.Daemon, base: Sources) -> dict[tuple[str, str, str], list[Written]]:
    """The chains Docker wrote as dockerd left them when it was ready (its containers
    started): a decision by one of its rules is named "made by Docker" while the chain
    still holds exactly these rules (nslab.firewall.evidence.attach; a rule a step adds makes the
    chain no one's); in a chain it shares with the lab's ruleset file (`base`), the
    file's rules keep their file:line."""
    text = daemon.world.run(["iptables-save"], ns=daemon.ns).stdout
    rules = iptables_save(text)
    out: dict[tuple[str, str, str], list[Written]] = {}
    for table in rules.tables.values():
        for chain in table.chains.values():
            key = (daemon.key, table.name, chain.name)
            if chain.name in DOCKER_CHAINS:
                out[key] = [Written(r.spec, "", made_by=MADE_BY) for r in chain.rules]
            elif any(dockers(r.spec, daemon.bridge) for r in chain.rules):
                others = [r for r in chain.rules if not dockers(r.spec, daemon.bridge)]
                theirs = list(base.get(key, ()))
                if theirs and len(theirs) != len(others):
                    continue  # the file's rules and the chain's differ: nslab does not guess
                # the others as the file writes them; without a file (a manager's rules,
                # a step's), as listed, their maker left to whoever knows it
                rest = iter(theirs or [Written(r.spec, "") for r in others])
                out[key] = [
                    Written(r.spec, "", made_by=MADE_BY) if dockers(r.spec, daemon.bridge) else next(rest)
                    for r in chain.rules
                ]
    if daemon.forward_policy_after != daemon.forward_policy_before:  # dockerd set it (ip_forward was 0)
        out[(daemon.key, "filter", "FORWARD policy")] = [Written("", "", made_by=MADE_BY)]
    return out
