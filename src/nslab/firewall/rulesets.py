"""A user's ruleset files: loaded for real in a throwaway world before anything is built,
and each problem named by the user's file and the line of the faulty rule, with a fix in
words ("unknown target `ACCCEPT`: did you mean ACCEPT?").

The tools alone do not say it well: iptables-restore (nf_tables backend) checks a jump
only when it commits, so a rule jumping to `ACCCEPT` on line 5 is reported at line 7,
the COMMIT; `iptables-restore --test` passes it. nft names the line but says `syntax
error, unexpected newline` for `rejct`. So an error at a COMMIT is traced back to its rule
(by the chain it names, else by loading ever longer prefixes of the table), and a line
with a near-miss of a known word says which word was meant.

>>> close_word("rejct", NFT_WORDS)
'reject'
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from nslab.commands import Runner
from nslab.errors import LabError
from nslab.firewall import RULESETS
from nslab.lab.model import Host, Lab

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
PREFIX_FIX = "a prefix length is 0-32 for IPv4, 0-128 for IPv6"
NFT_WORDS = (
    "table", "chain", "type", "hook", "priority", "policy", "filter", "nat", "route",
    "prerouting", "input", "forward", "output", "postrouting", "ingress", "flush", "ruleset",
    "inet", "ip", "ip6", "arp", "bridge", "netdev", "accept", "drop", "reject", "queue",
    "continue", "return", "jump", "goto", "counter", "log", "prefix", "limit", "rate",
    "masquerade", "snat", "dnat", "redirect", "notrack", "tcp", "udp", "icmp", "icmpv6",
    "icmpx", "meta", "ct", "state", "status", "established", "related", "new", "invalid",
    "untracked", "iif", "oif", "iifname", "oifname", "saddr", "daddr", "sport", "dport",
    "l4proto", "nfproto", "protocol", "mark", "fib", "set", "map", "define", "elements",
    "with", "to", "reset", "admin-prohibited", "port-unreachable", "host-unreachable",
    "net-unreachable", "host-prohibited", "net-prohibited", "ipv4", "ipv6", "name",
    "dstnat", "srcnat", "raw", "mangle", "security", "in", "out", "ether", "vlan", "code",
    "id", "sequence", "length", "th", "sctp", "dccp", "flags", "syn", "ack", "fin", "rst",
    "psh", "urg", "timeout", "size", "interval", "constant", "dynamic", "update", "add",
    "delete", "insert", "replace", "rule", "handle", "comment", "level", "group", "queue",
    "fanout", "bypass", "persistent", "random", "fully-random", "dup", "fwd", "nat",
    "prefix", "over", "burst", "packets", "bytes", "second", "minute", "hour", "day",
    "typeof", "flowtable", "devices", "offload", "quota", "until", "used", "secmark",
    "synproxy", "tproxy", "cgroup", "skuid", "skgid", "nexthop", "hoplimit", "ttl",
    "version", "hdrlength", "dscp", "ecn", "frag-off", "checksum", "nexthdr", "flowlabel",
)  # fmt: skip


@dataclass(frozen=True)
class Problem:
    """What is wrong with a ruleset file, where, and how to fix it."""

    path: Path
    line: int | None  # 1-based, the faulty rule's
    what: str
    fix: str

    def words(self) -> str:
        here = Path.cwd()
        shown = self.path.relative_to(here) if self.path.is_relative_to(here) else self.path
        return f"{shown}: " + (f"line {self.line}: " if self.line else "") + self.what


def close_word(word: str, known: tuple[str, ...]) -> str | None:
    found = difflib.get_close_matches(word, known, n=1, cutoff=0.75)
    return found[0] if found and found[0] != word else None


def _meant(word: str, known: tuple[str, ...], otherwise: str) -> str:
    """The fix for an unknown name: the known one it nearly spells, else `otherwise`."""
    close = difflib.get_close_matches(word, known, n=1, cutoff=0.6)
    return f"did you mean {close[0]}?" if close else otherwise


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
    if missing:
        what = f"unknown target or chain `{missing[1]}`"
        fix = _meant(
            missing[1],
            IPT_TARGETS + _chains(content),
            f"declare the chain (:{missing[1]} - [0:0]) or jump to a built-in target",
        )
    elif m := re.search(r"Couldn't load (match|target) `([^']+)'", what):
        known = IPT_MATCHES if m[1] == "match" else IPT_TARGETS
        what = f"unknown {m[1]} `{m[2]}`"
        fix = _meant(m[2], known, f"install the kernel module for it, or drop the {m[1]}")
    elif "invalid mask" in what:
        fix = PREFIX_FIX
    elif "No chain/target/match by that name" in what and line is not None and 0 < line <= len(lines):
        chain = re.match(r"\s*(?:-A|-I|--append|--insert)\s+(\S+)", lines[line - 1])
        declared = BUILTIN_CHAINS + _chains(content)
        if chain and chain[1] not in declared:
            what = f"chain `{chain[1]}` is not declared"
            fix = _meant(chain[1], declared, f"declare it (:{chain[1]} - [0:0]) before its rules")
    elif m := re.search(r"Unknown ICMPv6 type `([^']+)'", what):
        fix = _meant(m[1], ICMP6_TYPES, "one of: " + ", ".join(ICMP6_TYPES))
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


def _nft_words(line: str) -> list[str]:
    """The words of an nft line that nft itself defines: not strings, comments, nor the
    file's own names (`$lan_if`, `@allowed`): a piece of `$lan_if` read as the word `lan`
    was answered 'did you mean vlan?'."""
    body = re.sub(r'"[^"]*"', "", line.split("#", 1)[0])
    return [w for w in re.findall(r"[\w$@.-]+", body) if re.fullmatch(r"[a-z][a-z0-9-]*", w)]


_IDENTIFIER = re.compile(r"unknown identifier '([^']+)'")


def nft_problem(text: str, content: str, path: Path, interfaces: Sequence[str] = ()) -> Problem:
    """nft's complaint (it names file, line and columns) with the word it did not know;
    `interfaces`: the host's own (an `iif`/`oif` of another is named with them)."""
    said = [x for x in text.splitlines() if x.strip()]
    first = next((x for x in said if "Error:" in x), said[0] if said else "rejected with no message")
    m = re.match(r".*?:(\d+):\d+(?:-\d+)?: Error: (.*)", first)
    line, what = (int(m[1]), m[2]) if m else (None, first)
    fix = PREFIX_FIX if "Prefix length" in what else "fix the rule on that line"
    lines = content.splitlines()
    if what.startswith("Interface does not exist") and line is not None and 0 < line <= len(lines):
        return _no_interface(first, lines[line - 1], path, line, interfaces)
    unknown = _IDENTIFIER.search(what)
    if unknown:  # a variable the file never defined: its own defines are what it may mean
        defined = tuple(re.findall(r"^\s*define\s+(\w+)", content, re.M))
        var = unknown[1]
        near = difflib.get_close_matches(var, defined, n=1, cutoff=0.75)
        fix = f"did you mean ${near[0]}?" if near else f"define {var} before its use (define {var} = ...)"
        return Problem(path, line, _IDENTIFIER.sub(f"unknown identifier '{var}'", what.split(";")[0]), fix)
    if line is not None and 0 < line <= len(lines):
        for word in _nft_words(lines[line - 1]):
            if word not in NFT_WORDS and (close := close_word(word, NFT_WORDS)):
                what, fix = f"{what} (unknown word `{word}`)", f"did you mean {close}?"
                break
    return Problem(path, line, what, fix)


def _no_interface(said: str, rule: str, path: Path, line: int, interfaces: Sequence[str]) -> Problem:
    """`iif "eth9"` where the host has no eth9: nft resolves iif/oif to an index when it
    loads, so the name must be one of the host's interfaces (nft's columns point at it)."""
    cols = re.search(r":\d+:(\d+)-(\d+): Error:", said)
    word = rule[int(cols[1]) - 1 : int(cols[2])] if cols else ""
    if not re.fullmatch(r'"?[^"\s]+"?', word):
        found = re.search(r'\b(?:iif|oif)\s+"?([^"\s;]+)', rule)
        word = found[1] if found else "?"
    name = word.strip('"')
    return Problem(
        path,
        line,
        f"interface `{name}` does not exist on this host (its interfaces: {', '.join(interfaces) or 'none'})",
        "name one of them, or match by name with iifname/oifname (checked when a packet comes, not at load)",
    )


def script_problem(text: str, path: Path) -> Problem:
    m = re.search(r"line (\d+): (.*)", text)
    return Problem(path, int(m[1]) if m else None, m[2] if m else text.strip(), "fix the script at that line")


def problem(
    kind: str,
    text: str,
    content: str,
    path: Path,
    loads: Callable[[str], bool] | None,
    interfaces: Sequence[str] = (),
) -> Problem:
    if kind in ("iptables", "ip6tables"):
        return iptables_problem(text, content, path, loads)
    if kind == "nft":
        return nft_problem(text, content, path, interfaces)
    return script_problem(text, path)


def check_file(
    runner: Runner,
    kind: str,
    path: Path,
    placed: str,
    interfaces: Sequence[str] = (),
    included: Sequence[Placed] = (),
) -> Problem | None:
    """Load one ruleset file in the runner (a throwaway world): None if it loads.
    `interfaces`: the host's (made in the runner, see host_interfaces); `included`: the
    files it includes as they were placed (an error in one is named by the user's file)."""
    check = RULESETS[kind].check
    content = path.read_text()
    if check[-1] is None:
        tool = [str(a) for a in check[:-1]]
        result = runner.run(tool, stdin=content, timeout=30)

        def loads(text: str) -> bool:
            return runner.run(tool, stdin=text, timeout=30).ok

    else:
        result = runner.run([*(str(a) for a in check), placed], timeout=30)
        loads = None  # type: ignore[assignment]
    if result.ok:
        return None
    said = result.output
    for other in sorted(included, key=lambda f: -len(f.where)):  # HOST-nft.d/... before HOST-nft
        said = said.replace(other.where, str(other.path))
    said = said.replace(placed, str(path))
    first = next((x for x in said.splitlines() if "Error:" in x), "")
    inner = next((f.path for f in included if first.startswith(f"{f.path}:")), None)
    if inner is not None and inner != path:  # the faulty rule is in an included file
        path, content = inner, inner.read_text()
    return problem(kind, said, content, path, loads, interfaces)


def check_static(kind: str, path: Path) -> Problem | None:
    """Without root (no world to load it in): the near-misses a reader can see, line by line."""
    content = path.read_text()
    chains = _chains(content)
    for number, line in enumerate(content.splitlines(), 1):
        if kind in ("iptables", "ip6tables"):
            jump = re.search(r"(?:-j|--jump|-g|--goto)\s+(\S+)", line)
            if jump and jump[1] not in IPT_TARGETS + chains:
                fix = _meant(jump[1], IPT_TARGETS + chains, f"declare the chain (:{jump[1]} - [0:0])")
                return Problem(path, number, f"unknown target or chain `{jump[1]}`", fix)
        elif kind == "nft":
            for word in _nft_words(line):  # strings and the file's $names are not nft's words
                if word not in NFT_WORDS and (meant := close_word(word, NFT_WORDS)):
                    return Problem(path, number, f"unknown word `{word}`", f"did you mean {meant}?")
    return None


# nft's `include "FILE"`: nft 1.0.6 reads a relative FILE from its working folder (or, a bare
# name, its include path), so Debian's examples/all-in-one.nft (`include "./inet-filter.nft"`)
# loads only when run from its own folder. nslab reads it from the including file's folder,
# wherever it runs, and copies the included files with the ruleset (a remote target has none).
INCLUDE = re.compile(r'^(?P<head>[ \t]*include[ \t]+")(?P<file>[^"]+)"', re.M)
WILDCARD = re.compile(r"[*?[]")
DEEPEST = 16  # nft's own limit of nested includes


@dataclass(frozen=True)
class Placed:
    """One file of a ruleset as put on the target: the user's path, where it went, and its
    bytes with each relative include rewritten to where its file went."""

    path: Path
    where: str
    data: bytes


def placements(kind: str, path: Path, where: str) -> list[Placed]:
    """A ruleset file put at `where`, first, then every file it includes (nft), each at
    where.d/N-NAME (a wildcard's matches in where.d/N/); absolute includes stay the
    machine's. An include of a file that is not there is one LabError naming it."""
    if kind != "nft":
        return [Placed(path, where, path.read_bytes())]
    out: list[Placed] = []
    count = iter(range(1, 1 << 30))  # each include its own place, however nested

    def place(file: Path, at: str, depth: int) -> None:
        text = file.read_text()
        parts, last = [], 0
        for m in INCLUDE.finditer(text):
            line = text.count("\n", 0, m.start()) + 1
            parts += [text[last : m.start("file")], rewrite(file, line, m["file"], depth)]
            last = m.end("file")
        out.append(Placed(file, at, "".join([*parts, text[last:]]).encode()))

    def rewrite(file: Path, line: int, name: str, depth: int) -> str:
        """Where an include's file went (its place on the target)."""
        if name.startswith("/"):
            return name
        if depth >= DEEPEST:
            raise LabError(
                f"{_shown(file)}: line {line}: includes nest deeper than {DEEPEST}",
                "does a file include itself? nft stops there too",
            )
        n = next(count)
        if WILDCARD.search(name):
            if WILDCARD.search(str(Path(name).parent)):
                raise LabError(
                    f'{_shown(file)}: line {line}: include "{name}": a wildcard in a folder name',
                    'put the wildcard in the file name only (include "./rules.d/*.nft")',
                )
            into = f"{where}.d/{n}"
            for match in sorted(file.parent.glob(name)):
                place(match, f"{into}/{match.name}", depth + 1)
            return f"{into}/{Path(name).name}"
        found = file.parent / name
        if not found.is_file():
            if not name.startswith(("./", "../")):
                return name  # a bare name not beside the file: nft's include path decides
            raise LabError(
                f'{_shown(file)}: line {line}: include "{name}": there is no {_shown(found)}',
                "an include is read from the including file's folder: name a file there",
            )
        at = f"{where}.d/{n}-{found.name}"
        place(found, at, depth + 1)
        return at

    place(path, where, 0)
    return [out[-1], *out[:-1]]  # the file itself first


def with_included(kind: str, path: Path) -> list[Path]:
    """A ruleset file, then every file it includes (nft), as placements() reads them."""
    return list(dict.fromkeys(f.path for f in placements(kind, path, "")))


def interface_names(lab: Lab, host: Host) -> list[str]:
    """A lab host's interfaces, as its rules may name them in iif/oif: its legs on the
    lab's networks and the uplink where the internet hangs off it."""
    names = [i.name for i in host.interfaces]
    return names + ([lab.upstream.uplink] if lab.upstream.via == host.name else [])


def _shown(path: Path) -> str:
    here = Path.cwd()
    return str(path.relative_to(here) if path.is_relative_to(here) else path)


@contextmanager
def host_interfaces(runner: Runner, names: Sequence[str]) -> Iterator[None]:
    """Links named like a host's interfaces in the runner's namespace (a throwaway world's
    root) while its rulesets are checked: nft resolves `iif "eth0"` to an index when it
    loads, so a file naming the host's eth0 failed ("Interface does not exist") where
    `nslab up` loads it. Bridges, as a link of any name that needs no peer and no module
    (dummy may be missing from the kernel, measured on Debian 12's cloud kernel)."""
    made = [n for n in dict.fromkeys(names) if n != "lo"]
    if made:
        add = "".join(f"link add {n} type bridge\n" for n in made)
        runner.run(["ip", "-batch", "-"], stdin=add, check=True)
    try:
        yield
    finally:
        if made:
            runner.run(["ip", "-batch", "-"], stdin="".join(f"link del {n}\n" for n in made))


def raise_for(host: str, kind: str, found: Problem) -> None:
    who = host if host.startswith("the ") else f"host {host}"  # "the lab's host": the world's root
    raise LabError(f"{who}'s {kind} ruleset does not load: {found.words()}", found.fix)
