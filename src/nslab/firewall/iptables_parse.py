"""iptables-save's output (nf_tables or legacy, with or without -c counters) as typed rules
(nslab.parse.Ruleset), and `iptables -L`'s policies: the iptables kind's reading.

>>> rs = iptables_save("*filter\\n:FORWARD DROP [3:180]\\n[2:120] -A FORWARD -j ACCEPT\\nCOMMIT\\n")
>>> chain = rs.chain("FORWARD")
>>> (chain.policy, chain.packets, chain.rules[0].target, chain.rules[0].packets)
('DROP', 3, 'ACCEPT', 2)
"""

from __future__ import annotations

import re
import shlex

from nslab.parse import NSLAB_OWN, Chain, Rule, Ruleset, Table

_COUNTERS = re.compile(r"\[(\d+):(\d+)\]")
_PLAIN = re.compile(r"[^\s'\"]+")  # an argument iptables-save prints without quotes


def iptables_save(text: str) -> Ruleset:
    """Parse iptables-save output, nf_tables or legacy, with or without -c counters."""
    rs = Ruleset()
    table: Table | None = None
    nd: dict[tuple[str, str], int] = {}  # nslab's ND counts (nslab.coverage.counts) before the next rule
    for lineno, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#") or line == "COMMIT":
            continue
        if line.startswith("*"):
            table = rs.tables.setdefault(line[1:], Table(line[1:]))
            continue
        if table is None:
            raise ValueError(f"line {lineno}: {line!r} before any *table header")
        if line.startswith(":"):
            name, policy, *rest = line[1:].split()
            counters = _COUNTERS.match(rest[0]) if rest else None
            table.chains[name] = Chain(
                name=name,
                policy=None if policy == "-" else policy,
                packets=int(counters[1]) if counters else None,
                bytes=int(counters[2]) if counters else None,
            )
            continue
        packets = nbytes = None
        counters = _COUNTERS.match(line)
        if counters:
            packets, nbytes = int(counters[1]), int(counters[2])
            line = line[counters.end() :].strip()
        args = shlex.split(line)
        if len(args) < 2 or args[0] != "-A":
            raise ValueError(f"line {lineno}: unexpected {raw!r}")
        chain_name = args[1]
        target = None
        for flag in ("-j", "-g"):
            if flag in args:
                target = args[args.index(flag) + 1]
        chain = table.chains.setdefault(chain_name, Chain(chain_name, None))
        key = (table.name, chain_name)
        if "--comment" in args and args[args.index("--comment") + 1].startswith(NSLAB_OWN):
            nd[key] = nd.get(key, 0) + (packets or 0)  # rule coverage's ND count: the next rule's
            continue
        nd_packets = nd.pop(key, None)
        if nd_packets is not None and packets is not None:  # neighbour discovery is housekeeping
            packets -= nd_packets
        spec = " ".join(a if _PLAIN.fullmatch(a) else shlex.quote(a) for a in args[2:])
        chain.rules.append(Rule(chain_name, spec, target, packets, nbytes, nd_packets))
    return rs


def iptables_policies(text: str) -> dict[str, str]:
    """Built-in chain policies from `iptables -L` text: {'FORWARD': 'DROP', ...}."""
    return dict(re.findall(r"^Chain (\S+) \(policy (\w+)", text, re.M))
