"""nslab's counting rules on a ufw host (nslab.coverage.ufw): the nftables tracer's marks
(its loopback pings) and the kernel's IPv6 housekeeping are nslab's and the kernel's own
traffic, never a scenario's."""

from __future__ import annotations

import re
import shlex

from nslab.firewall import iptables
from nslab.firewall.instrument import HOUSEKEEPING_TYPES, ip6tables_instrument
from nslab.machine.world import World
from nslab.parse import NSLAB_OWN

MARK_COMMENT = NSLAB_OWN + "mark"  # counts nslab's tracer marks the rule after it would match
_LOOPBACK = ["-s", "127.0.0.0/8", "-d", "127.0.0.0/8"]


def marks_instrument(save: str) -> str | None:
    """The iptables-restore text (from `iptables-save -c`) with a counting rule of nslab's
    (no target, `--comment nslab-mark`) before each filter rule the nftables tracer's
    marks could match: its loopback pings (nslab.probe.trace, 127.0.x.y), sent in every
    traced place, are nslab's own traffic (measured: 30 packets a scenario on a ufw host
    beside a firewalld host, all on ufw's `-i lo -j ACCEPT`); None where none is needed.
    As for ND: the counting rule has the rule's own matches, so it counts what the rule
    would, and nslab.parse takes it from the rule's count."""
    out: list[str] = []
    table, added = "", False
    for line in save.splitlines():
        if line.startswith("*"):
            table = line[1:].strip()
        counted = re.match(r"^(\[\d+:\d+\] )?-A (\S+) (.*)$", line)
        if counted and table == "filter" and NSLAB_OWN not in line:
            args = shlex.split(counted[3])
            matches = args[: next((i for i, a in enumerate(args) if a in ("-j", "-g")), len(args))]
            proto = matches[matches.index("-p") + 1] if "-p" in matches else None
            if proto in (None, "icmp", "1") and not {"!", "-s", "-d"} & set(matches):
                base = matches if proto else ["-p", "icmp", *matches]
                shadow = [*base, *_LOOPBACK, "-m", "comment", "--comment", MARK_COMMENT]
                out.append(f"[0:0] -A {counted[2]} {shlex.join(shadow)}")
                added = True
        out.append(line)
    return "\n".join(out) + "\n" if added else None


def count_marks(world: World, ns: str, backend: str) -> bool:
    """nslab's mark counting rules in the place's IPv4 filter table, in one atomic restore
    (counters kept): False where they did not load (the marks are then counted)."""
    return iptables.reload(world, ns, iptables.KIND, backend, marks_instrument)


POLICY_ND = NSLAB_OWN + "pnd"  # counts the housekeeping that reaches the chain's policy
_POLICY_CHAINS = ("INPUT", "OUTPUT")  # housekeeping is never forwarded
_PND_LINE = re.compile(r"^\[(\d+):\d+\] -A (\S+) .*" + POLICY_ND)


def policy_nd(save: str) -> str:
    """The ip6tables-restore text with nslab's counting rules at the end of INPUT and
    OUTPUT, one per housekeeping ICMPv6 type: what reaches the policy from the kernel's
    housekeeping (measured: an MLD report from a link-local-only host fell through ufw's
    rules to OUTPUT's policy in a scenario; an MLD report from `::` would reach INPUT's
    DROP, which is `default deny incoming`); the text as it was where they are there."""
    if POLICY_ND in save:
        return save
    out, table = [], ""
    for line in save.splitlines():
        if line.startswith("*"):
            table = line[1:].strip()
        if line == "COMMIT" and table == "filter":
            for chain in _POLICY_CHAINS:
                for kind in HOUSEKEEPING_TYPES:
                    shadow = ["-p", "ipv6-icmp", "-m", "icmp6", "--icmpv6-type", str(kind)]
                    out.append(
                        f"[0:0] -A {chain} {shlex.join([*shadow, '-m', 'comment', '--comment', POLICY_ND])}"
                    )
        out.append(line)
    return "\n".join(out) + "\n"


def policy_nd_packets(save6: str) -> dict[str, int]:
    """Each chain's housekeeping packets that reached its policy (the `nslab-pnd` rules')."""
    out: dict[str, int] = {}
    for line in save6.splitlines():
        m = _PND_LINE.match(line)
        if m:
            out[m[2]] = out.get(m[2], 0) + int(m[1])
    return out


def count_v6(world: World, ns: str, backend: str) -> bool:
    """nslab's IPv6 housekeeping counting rules on a ufw host, in one atomic restore
    (counters kept): before each rule it could match (nslab.firewall.instrument), and
    before each built-in chain's policy."""
    return iptables.reload(
        world,
        ns,
        iptables.IP6TABLES,
        backend,
        lambda save: policy_nd(ip6tables_instrument(save, {"ip6 filter"}) or save),
    )
