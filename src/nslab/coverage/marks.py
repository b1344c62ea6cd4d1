"""nslab's counting rules for the nftables tracer's marks on a ufw host (nslab.coverage.ufw):
its loopback pings are nslab's own traffic, never a scenario's."""

from __future__ import annotations

import re
import shlex

from nslab.firewall import iptables
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
    legacy = backend == "legacy"
    save = world.run(["iptables-legacy-save" if legacy else "iptables-save", "-c"], ns=ns).stdout
    text = marks_instrument(save)
    if text is None:
        return True
    restore = ["iptables-legacy-restore" if legacy else "iptables-restore", iptables.WAIT, "-c"]
    return world.run(restore, ns=ns, stdin=text).rc == 0
