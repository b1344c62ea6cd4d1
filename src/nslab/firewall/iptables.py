"""The iptables kind (`firewall = { iptables = "FILE" }`, and ip6tables): an
iptables-restore file. Checked by loading it for real (`iptables-restore --test`,
nf_tables backend 1.8.9, passed a rule jumping to "ACCCEPT", which only fails when
committed); an error at a COMMIT is traced back to its rule (by the chain it names, else
by loading ever longer prefixes of the table). Its rules are read back with iptables-save
(iptables-nft or legacy, as the lab's backend loads it): this module's readers, which a
manager kind whose rules land in iptables' tables (ufw) reuses.

>>> KIND.ports("-A FORWARD -p tcp -m multiport --dports 80,8000:8001 -j ACCEPT")
[('tcp', 80), ('tcp', 8000), ('tcp', 8001)]
>>> (KIND.tool("legacy"), KIND.tool("nft"), IP6TABLES.tool("nftables"))
('legacy', 'iptables', 'iptables')
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import ClassVar

from nslab.commands import Runner
from nslab.firewall import rulemap
from nslab.firewall.instrument import ip6tables_instrument
from nslab.firewall.iptables_parse import iptables_save
from nslab.firewall.kind import (
    PREFIX_FIX,
    V6_MARK,
    Firewall,
    Kind,
    Problem,
    dnat_daddrs,
    meant,
    port_values,
)
from nslab.firewall.landings import iptables_landings
from nslab.firewall.nft_parse import nft_json
from nslab.parse import Ruleset

IPT_TARGETS = (
    "ACCEPT", "DROP", "REJECT", "RETURN", "LOG", "MASQUERADE", "SNAT", "DNAT", "REDIRECT",
    "MARK", "CONNMARK", "NOTRACK", "CT", "TCPMSS", "NFLOG", "NFQUEUE", "QUEUE", "TRACE",
)  # fmt: skip
IPT_MATCHES = (
    "tcp", "udp", "icmp", "icmp6", "conntrack", "state", "multiport", "comment", "limit",
    "mark", "connmark", "recent", "iprange", "addrtype", "mac", "set", "owner", "length",
    "pkttype", "physdev", "rpfilter", "hashlimit", "connlimit", "string", "u32", "policy",
)  # fmt: skip
BUILTIN_CHAINS = ("INPUT", "FORWARD", "OUTPUT", "PREROUTING", "POSTROUTING")
ICMP6_TYPES = (
    "echo-request", "echo-reply", "destination-unreachable", "packet-too-big", "time-exceeded",
    "parameter-problem", "neighbour-solicitation", "neighbour-advertisement",
    "router-solicitation", "router-advertisement",
)  # fmt: skip


def _chains(content: str) -> tuple[str, ...]:
    return tuple(m[1] for m in re.finditer(r"^:(\S+)", content, re.M))


def iptables_problem(text: str, content: str, path: Path, loads: Callable[[str], bool] | None) -> Problem:
    """iptables-restore's complaint as a Problem at the faulty rule's line. `loads(text)`
    loads a restore file for real (for tracing a COMMIT-time error back to its rule)."""
    lines = content.splitlines()
    said = [x.strip() for x in text.splitlines() if x.strip() and not x.startswith("Try ")]
    what = next((x for x in said if not x.startswith("Error occurred at line")), "rejected with no message")
    what = re.sub(r"^ip6?tables-restore v[\d.]+ \([\w_]+\): ", "", what)
    what = re.sub(r"^ip6?tables-restore: line \d+ failed: ", "", what)
    at = re.search(r"Error occurred at line: (\d+)", text) or re.search(r"line (\d+) failed", text)
    line = int(at[1]) if at else None
    missing = re.search(r"Chain '([^']+)' does not exist", what)
    if line is not None and 0 < line <= len(lines) and lines[line - 1].strip() == "COMMIT":
        if missing:  # a jump to it: the first rule naming it
            jump = re.compile(rf"(?:-j|--jump|-g|--goto)\s+{re.escape(missing[1])}(?:\s|$)")
            line = next((i for i, x in enumerate(lines, 1) if jump.search(x)), line)
        elif loads is not None:
            line = _bisect(lines, line, loads) or line
    fix = "fix the rule on that line"
    if line is None:  # nothing points at a line: say how to see the loader's own words
        fix = f"no line was named: `iptables-restore --test {path.name}` shows the whole message"
    if missing:
        what = f"unknown target or chain `{missing[1]}`"
        fix = meant(
            missing[1],
            IPT_TARGETS + _chains(content),
            f"declare the chain (:{missing[1]} - [0:0]) or jump to a built-in target",
        )
    elif m := re.search(r"Couldn't load (match|target) `([^']+)'", what):
        known = IPT_MATCHES if m[1] == "match" else IPT_TARGETS
        what = f"unknown {m[1]} `{m[2]}`"
        fix = meant(m[2], known, f"install the kernel module for it, or drop the {m[1]}")
    elif "invalid mask" in what:
        fix = PREFIX_FIX
    elif "No chain/target/match by that name" in what and line is not None and 0 < line <= len(lines):
        chain = re.match(r"\s*(?:-A|-I|--append|--insert)\s+(\S+)", lines[line - 1])
        declared = BUILTIN_CHAINS + _chains(content)
        if chain and chain[1] not in declared:
            what = f"chain `{chain[1]}` is not declared"
            fix = meant(chain[1], declared, f"declare it (:{chain[1]} - [0:0]) before its rules")
    elif m := re.search(r"Unknown ICMPv6 type `([^']+)'", what):
        fix = meant(m[1], ICMP6_TYPES, "one of: " + ", ".join(ICMP6_TYPES))
    elif "unknown option" in what:
        fix = "check the option's spelling (iptables -m MATCH --help lists a match's options)"
    return Problem(path, line, what, fix)


def _bisect(lines: list[str], commit: int, loads: Callable[[str], bool]) -> int | None:
    """The first rule of the table ending at line `commit` whose prefix does not load."""
    start = max((i for i in range(commit - 1) if lines[i].startswith("*")), default=0)
    rules = [i for i in range(start, commit - 1) if lines[i].startswith(("-A", "-I", "--append", "--insert"))]
    head = [x for x in lines[start : commit - 1] if not x.startswith(("-A", "-I", "--append", "--insert"))]
    lo, hi = 0, len(rules) - 1
    found = None
    while lo <= hi:  # a prefix fails exactly when it holds the faulty rule
        mid = (lo + hi) // 2
        text = "\n".join([*head, *(lines[i] for i in rules[: mid + 1]), "COMMIT", ""])
        if loads(text):
            lo = mid + 1
        else:
            found, hi = rules[mid] + 1, mid - 1
    return found


# The xtables lock, waited for: `--wait=SECONDS`, never a bare `-w` before the file:
# iptables-restore (1.8.9) takes the word after `-w` as its seconds (a file name reads as
# 0), then reads the rules from stdin, finds none and exits 0. A lab's iptables files were
# loaded so: nothing loaded, no error (found by rule coverage: every rule 0 hits).
WAIT = "--wait=30"


class Iptables(Kind):
    """An iptables-restore file (IPv4)."""

    name: ClassVar[str] = "iptables"
    package: ClassVar[str] = "iptables"
    load: ClassVar[tuple[str, ...]] = ("iptables-restore", WAIT)
    legacy: ClassVar[tuple[str, ...] | None] = ("iptables-legacy-restore", WAIT)
    dump: ClassVar[tuple[str, ...]] = ("iptables-save", "-c")  # a place's rules, with counters
    dump_legacy: ClassVar[tuple[str, ...]] = ("iptables-legacy-save", "-c")
    # checked by loading it for real, the file on stdin (see the module's words)
    check: ClassVar[tuple[str | None, ...]] = ("iptables-restore", None)
    syntax: ClassVar[str] = "iptables"
    front: ClassVar[str] = "xtables"
    v6: ClassVar[bool] = False

    def dumper(self, backend: str) -> tuple[str, ...]:
        """The argv that reads a place's rules of this family back, counters kept, with the
        tool that `loader(backend)` loads them with."""
        return self.dump_legacy if backend == "legacy" else self.dump

    def tool(self, backend: str) -> str | None:
        """iptables-restore (legacy, or the nf_tables one) loads it whatever the backend,
        so it is read with that tool: nft would list its rules as `xt` expressions in
        tables named `ip filter`, and no chain of the file would be found."""
        return "legacy" if backend == "legacy" else "iptables"

    def rules(self, text: str) -> list[rulemap.FileRule] | None:
        return rulemap.iptables_rules(text, v6=self.v6)

    def problem(
        self,
        said: str,
        content: str,
        path: Path,
        loads: Callable[[str], bool] | None,
        interfaces: Sequence[str] = (),
    ) -> Problem:
        return iptables_problem(said, content, path, loads)

    def check_static(self, path: Path) -> Problem | None:
        content = path.read_text()
        chains = _chains(content)
        for number, line in enumerate(content.splitlines(), 1):
            jump = re.search(r"(?:-j|--jump|-g|--goto)\s+(\S+)", line)
            if jump and jump[1] not in IPT_TARGETS + chains:
                fix = meant(jump[1], IPT_TARGETS + chains, f"declare the chain (:{jump[1]} - [0:0])")
                return Problem(path, number, f"unknown target or chain `{jump[1]}`", fix)
        return None

    def ports(self, text: str) -> list[tuple[str, int]]:
        return sorted(ports(text))

    def dnat_destinations(self, text: str) -> list[str]:
        return dnat_daddrs(text)


class Ip6tables(Iptables):
    """An ip6tables-restore file: its tables are read as "ip6 filter" ..."""

    name: ClassVar[str] = "ip6tables"
    load: ClassVar[tuple[str, ...]] = ("ip6tables-restore", WAIT)
    legacy: ClassVar[tuple[str, ...] | None] = ("ip6tables-legacy-restore", WAIT)
    dump: ClassVar[tuple[str, ...]] = ("ip6tables-save", "-c")
    dump_legacy: ClassVar[tuple[str, ...]] = ("ip6tables-legacy-save", "-c")
    check: ClassVar[tuple[str | None, ...]] = ("ip6tables-restore", None)
    v6: ClassVar[bool] = True


KIND = Iptables()
IP6TABLES = Ip6tables()


# --- the ports its rules match on (nslab explore) --------------------------------------------

_IPT_PROTO = re.compile(r"(?:^|\s)(?:-p|--protocol)\s+(tcp|udp)\b")
_IPT_PORTS = re.compile(r"(?:--dport|--destination-port|--dports|--destination-ports|--ports)\s+(\S+)")


def ports(text: str) -> set[tuple[str, int]]:
    """(protocol, port) of every `--dport(s)` of an iptables file and where its DNATs and
    REDIRECTs land (nslab.firewall.landings); a rule without -p: both."""
    found: set[tuple[str, int]] = set()
    for line in (x.split("#", 1)[0] for x in text.splitlines()):
        proto = _IPT_PROTO.search(line)
        for expr in _IPT_PORTS.findall(line):
            for p in (proto[1],) if proto else ("tcp", "udp"):
                found.update((p, port) for port in port_values(expr, p))
    return found | iptables_landings(text)


# --- its readers: a place's rules and counters read back (nslab.firewall.REGISTRY) ------------


def _iptables(text: str) -> Ruleset:
    """iptables-save, a line V6_MARK, ip6tables-save: IPv6 tables become "ip6 filter" ..."""
    v4, _, v6 = text.partition(V6_MARK)
    rs = iptables_save(v4)
    for table in iptables_save(v6).tables.values():
        table.name = f"ip6 {table.name}"
        rs.tables[table.name] = table
    return rs


# iptables-nft's own tables, as nft lists them: read with iptables-save, never twice
IPTABLES_TABLES = {
    f"{family} {name}" for family in ("ip", "ip6") for name in ("filter", "nat", "mangle", "raw", "security")
}


def _iptables_and_nft(text: str) -> Ruleset:
    """iptables-save, ip6tables-save, then `nft -j list ruleset`: the host's iptables rules
    and its native nft tables (a user's `nft add table inet mine` on the lab's host)."""
    v4, _, rest = text.partition(V6_MARK)
    v6, _, native = rest.partition(V6_MARK)
    rs = _iptables(v4 + V6_MARK + v6)
    try:
        nft = nft_json(native)
    except ValueError:
        return rs
    for name, table in nft.tables.items():
        if name not in IPTABLES_TABLES:
            rs.tables[name] = table
    rs.counters.update(nft.counters)
    return rs


_SAVE = (("iptables-save", "-c"), ("ip6tables-save", "-c"))
_LEGACY = (("iptables-legacy-save", "-c"), ("ip6tables-legacy-save", "-c"))
READERS = (
    Firewall("iptables4", _SAVE[:1], _SAVE[:1], "iptables", _iptables),  # the seed's host: IPv4 only
    Firewall("iptables", _SAVE, _SAVE, "iptables", _iptables),  # iptables-nft, both families
    Firewall("legacy", _LEGACY, _LEGACY, "iptables", _iptables),  # iptables-legacy
    # a host with native nft tables beside its iptables (nslab.scenario.session names it so)
    Firewall(
        "iptables+nft",
        (*_SAVE, ("nft", "-j", "list", "ruleset")),
        (*_SAVE, ("nft", "list", "ruleset")),
        "nftables",
        _iptables_and_nft,
    ),
)
DEFAULT_READER = "iptables"  # a lab's backend the registry does not know: iptables-nft


def reload(
    runner: Runner, ns: str, kind: Iptables, backend: str, change: Callable[[str], str | None]
) -> bool:
    """A place's rules of `kind`'s family read (counters kept), changed by `change` and
    loaded back in one atomic restore, with the backend's tools: True where `change` had
    nothing to add (None) or the restore loaded, False where it did not."""
    text = change(runner.run(list(kind.dumper(backend)), ns=ns).stdout)
    if text is None:
        return True
    return runner.run([*kind.loader(backend), "-c"], ns=ns, stdin=text).rc == 0


def count_nd(runner: Runner, ns: str, tables: set[str], backend: str) -> bool:
    """nslab's ND counting rules (nslab.firewall.instrument) before a place's ip6tables
    rules, in one atomic restore (counters kept): False where they did not load."""
    return reload(runner, ns, IP6TABLES, backend, lambda save: ip6tables_instrument(save, tables))
