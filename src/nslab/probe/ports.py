"""TCP, UDP and ICMP probes with outcome classes, listeners in lab namespaces, and the
reachability matrix: the client side of the world's netprobe helper.

An outcome is what came back, measured: a completed handshake (accepted), a reset
(refused), an ICMP error naming its reason (rejected with "admin-prohibited"), an echoed
datagram (answered), or nothing before the deadline (dropped, no answer). A probe that
could not run (no such namespace) is an error, never an outcome; each outcome comes with
the rule or policy that decided it (nslab.firewall.evidence), from counters taken around it.

The flow a probe tries is nslab.probe.flow's Flow (its Service: `tcp/443`, `icmp v6`).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from nslab import firewall as firewalls_registry
from nslab import parse
from nslab.errors import NO_LAB_FIX, ProbeError, TargetError
from nslab.firewall import sources
from nslab.firewall.evidence import Evidence, Sources, decisions, uncounted_policies
from nslab.machine.targets.base import Spawned
from nslab.probe.flow import PROTOCOLS as PROTOCOLS
from nslab.probe.flow import Flow
from nslab.probe.flow import Service as Service
from nslab.probe.flow import check_port as check_port
from nslab.probe.flow import check_protocol as check_protocol

# "unreachable": the probe never left its namespace (no route: "Network is unreachable").
OUTCOMES = {
    "tcp": ("accepted", "refused", "dropped", "rejected", "unreachable"),
    "udp": ("answered", "no answer", "rejected", "unreachable"),
    "icmp": ("replies", "lost", "unreachable"),
}
# Flows one probe request carries (nslab explore). The helper holds at most as many in
# flight as its descriptors allow and starts the next as one ends (netprobe.Server.wait), so
# this bounds waiting, not descriptors: each request waits for its slowest flow's timeout
# once (256 a request: 20 hosts x 10 ports took 24 s, 4,096: 11 s, measured in one run).
BATCH = 4096
# Outcomes where the packets did not get their answer: a firewall that decided them dropped
# or rejected them. A reset (refused) is an answer: the packets were let through.
LOST = ("dropped", "rejected", "no answer", "lost", "unreachable")
ICMP_REASONS = (
    "net-unreachable",
    "host-unreachable",
    "port-unreachable",
    "proto-unreachable",
    "net-prohibited",
    "host-prohibited",
    "admin-prohibited",
)


@dataclass(frozen=True)
class Outcome:
    """What one probe measured."""

    outcome: str  # accepted, refused, dropped, rejected, answered, no answer, replies, lost, unreachable
    icmp: str | None = None  # the ICMP reason of a rejection, as REJECT names it
    by: str | None = None  # who sent the ICMP error
    error: str | None = None  # the local error when the probe never left (no route)
    seconds: float = 0.0
    sport: int = 0  # the probe's source port (0 for icmp), to find it in conntrack

    @classmethod
    def from_reply(cls, raw: dict[str, Any]) -> Outcome:
        return cls(
            raw["outcome"],
            raw.get("icmp"),
            raw.get("by"),
            raw.get("error"),
            float(raw.get("seconds", 0)),
            int(raw.get("sport") or 0),
        )

    def words(self) -> str:
        if self.outcome == "rejected":
            return f'rejected with "{self.icmp}"' + (f" (from {self.by})" if self.by else "")
        if self.outcome == "unreachable":
            return f"unreachable ({self.error}: it never left)"
        return self.outcome

    @property
    def lost(self) -> bool:
        return self.outcome in LOST


@dataclass(frozen=True)
class Connection:
    """A probe of a flow from a lab namespace to a place (as the step named them), the
    address it went to, its outcome and its evidence."""

    flow: Flow
    address: str
    outcome: Outcome
    evidence: Evidence = field(default_factory=Evidence)
    note: str = ""  # what the evidence alone would leave a reader to guess
    spoofed: str = ""  # the source address it was sent from, where not its own
    landed: str = ""  # where a DNAT or redirect sent it: "sshbox:22"

    @property
    def lost(self) -> bool:
        return self.outcome.lost

    def why(self) -> str:
        at = f" at {self.landed}" if self.landed else ""
        refused = self.outcome.outcome == "refused"
        return f"{self.outcome.words()}{at}; {self.evidence.summary(lost=self.lost, refused=refused)}" + (
            f"; {self.note}" if self.note else ""
        )

    def describe(self) -> str:
        f = self.flow
        return f"{f.src} -> {f.dst} ({self.address}) {f.service.words()}"


class Prober:
    """The world's netprobe helper (nslab/ontarget/netprobe.py): started on first use inside
    the world, holding the scenario's listeners, ended with the world."""

    def __init__(self, world: Any) -> None:
        self.world = world
        self.child: Spawned | None = None
        self.next_id = 0
        self.written: Sources | None = (
            None  # the lab's rules as its files write them (nslab.firewall.sources)
        )
        self.echo_recorded: set[str] = set()  # namespaces recording the echo requests they get
        self.nofile, self.nofile_note = 0, ""

    def _started(self) -> Spawned:
        if self.child is None:
            child = self.world.spawn(self.world.target.helper("netprobe.py"))
            line = child.readline(15)
            if not line.startswith('{"ready"'):
                child.kill()
                raise TargetError(
                    f"nslab's probe helper did not start on {self.world.target.name}: "
                    + (line.strip() or "no output"),
                    "run `nslab doctor`; the helper needs python3 on the target",
                )
            self.child = child
            ready = json.loads(line)
            # descriptors the helper may hold (it raised RLIMIT_NOFILE where it could; the
            # note says why not where not): a probe request beyond them runs in waves
            self.nofile, self.nofile_note = int(ready.get("nofile", 0)), str(ready.get("nofile_note", ""))
        return self.child

    def request(self, op: str, timeout: float = 30.0, **fields: Any) -> dict[str, Any]:
        child = self._started()
        self.next_id += 1
        child.write(json.dumps({"id": self.next_id, "op": op, **fields}) + "\n")
        line = child.readline(timeout)
        try:
            reply = json.loads(line)
        except ValueError:
            rest = line + (child.read_rest() if child.wait(1) is not None else "")
            self.close()
            raise TargetError(f"nslab's probe helper failed: {rest.strip()[-500:] or 'no answer'}") from None
        return reply

    def listen(self, ns: str, proto: str, port: int) -> None:
        reply = self.request("listen", ns=ns, proto=proto, port=port)
        if "error" in reply:
            # a scenario without 'Given the lab ...' (a new user's first feature file): the
            # probe's own error says how to build it; this one said nothing more
            gone = "does not exist" in str(reply["error"])
            fix = NO_LAB_FIX if gone else ""
            raise ProbeError(f"{ns} cannot listen on {proto} port {port}: {reply['error']}", fix)

    def record_echoes(self, namespaces: Sequence[str]) -> None:
        """Each namespace records the source of every echo request it receives from now on
        (once per world). Asked before a ping is sent, not when a step reads the record: a
        record begun after the ping missed it, and `saw no pings` passed after the ping had
        arrived. A namespace that does not exist (yet) records nothing: reading its record
        says so (seen_echoes)."""
        for ns in namespaces:
            if ns in self.echo_recorded:
                continue
            if "error" not in self.request("listen", ns=ns, proto="icmp", port=0):
                self.echo_recorded.add(ns)

    def seen_echoes(self, ns: str) -> list[str]:
        """The sources of the echo requests `ns` received since it began recording."""
        self.record_echoes([ns])
        if ns not in self.echo_recorded:
            raise ProbeError(f"namespace {ns} does not exist, so nobody knows which pings it saw")
        return list(self.request("seen", ns=ns, proto="icmp", port=0).get("seen", []))

    def seen(self, ns: str, proto: str, port: int) -> list[str]:
        return list(self.request("seen", ns=ns, proto=proto, port=port)["seen"])

    def probe(
        self, specs: Sequence[dict[str, Any]], firewalls: Sequence[str]
    ) -> tuple[list[dict[str, Any]], Evidence]:
        """Run probes concurrently; the counters taken around them all are the evidence."""
        wait = max((float(s.get("timeout", 0.25)) for s in specs), default=0.25)
        snap = firewalls_registry.snapshot_commands(list(firewalls))
        # many probes take waves where the helper's descriptors are few: ~10 ms each, at most
        reply = self.request("probe", timeout=wait + 30 + 0.01 * len(specs), probes=list(specs), snap=snap)
        if "error" in reply:
            raise ProbeError(f"the probe did not run: {reply['error']}, so there is no verdict")

        def rulesets(snaps: dict[str, str]) -> dict[str, parse.Ruleset]:
            return {
                k.partition(":")[0]: firewalls_registry.parse_snapshot(k.partition(":")[2], v)
                for k, v in snaps.items()
            }

        after = rulesets(reply["after"])
        found = decisions(rulesets(reply["before"]), after, self.written)
        listed = tuple(sources.listed(self.world, found, firewalls))
        return reply["results"], Evidence(listed, uncounted_policies(after))

    def close(self) -> None:
        if self.child is not None:
            child, self.child = self.child, None
            child.close_stdin()  # the helper ends on EOF at once; waiting for that (~7 ms) lets
            child.wait(2.0)  # the world end promptly, where killing its nsenter first cost ~1.5 s
            child.kill()
