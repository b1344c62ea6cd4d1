"""The nft kind (`firewall = { nft = "FILE" }`): an nft ruleset file, checked with `nft -c`
(nft names the line but says `syntax error, unexpected newline` for `rejct`: the word it
nearly spells is named), placed with the files it includes, read back with
`nft -j list ruleset`, its rules counted by nft rules of nslab's (nslab.firewall.instrument).

>>> KIND.ports("tcp dport { 22, 443 } accept\\nudp dport 53 accept")
[('tcp', 22), ('tcp', 443), ('udp', 53)]
>>> KIND.ports("dnat to tcp dport map { 80 : 10.2.0.10, 8080 : 10.2.0.11 . 8000 }")
[('tcp', 80), ('tcp', 8000), ('tcp', 8080)]
"""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, ClassVar

from nslab.commands import Runner
from nslab.errors import LabError
from nslab.firewall import rulemap
from nslab.firewall.kind import (
    PREFIX_FIX,
    WILDCARD,
    Firewall,
    Kind,
    Placed,
    Problem,
    close_word,
    dnat_daddrs,
    port_values,
    shown,
)
from nslab.firewall.landings import nft_landings
from nslab.firewall.nft_parse import nft_json

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


DEEPEST = 16  # nft's own limit of nested includes


class Nft(Kind):
    """A native nft ruleset file."""

    name: ClassVar[str] = "nft"
    package: ClassVar[str] = "nftables"
    needs: ClassVar[tuple[str, ...]] = ("nft",)
    load: ClassVar[tuple[str, ...]] = ("nft", "-f")
    check: ClassVar[tuple[str | None, ...]] = ("nft", "-c", "-f")
    read_with: ClassVar[str | None] = "nft"
    syntax: ClassVar[str] = "nft"
    front: ClassVar[str] = "nft"
    include_depth: ClassVar[int] = DEEPEST

    def rules(self, text: str) -> list[rulemap.FileRule] | None:
        return rulemap.nft_rules(text)

    def includes(self, text: str) -> list[str]:
        return [m["file"] for m in INCLUDE.finditer(text)]

    def problem(
        self,
        said: str,
        content: str,
        path: Path,
        loads: Callable[[str], bool] | None,
        interfaces: Sequence[str] = (),
    ) -> Problem:
        return nft_problem(said, content, path, interfaces)

    def check_static(self, path: Path) -> Problem | None:
        for number, line in enumerate(path.read_text().splitlines(), 1):
            for word in nft_words(line):  # strings and the file's $names are not nft's words
                if word not in NFT_WORDS and (close := close_word(word, NFT_WORDS)):
                    return Problem(path, number, f"unknown word `{word}`", f"did you mean {close}?")
        return None

    def placements(self, path: Path, where: str) -> list[Placed]:
        return placements(path, where)

    def ports(self, text: str) -> list[tuple[str, int]]:
        return sorted(ports(text))

    def dnat_destinations(self, text: str) -> list[str]:
        return dnat_daddrs(text)


KIND = Nft()
READERS = (
    Firewall(
        "nft",
        (("nft", "-j", "list", "ruleset"),),
        (("nft", "list", "ruleset"),),
        "nftables",
        nft_json,
        nft=True,
    ),
)


# --- the ports its rules match on (nslab explore) --------------------------------------------

# `tcp dport 22`, `{ 22, 443 }`, `@set`, and a map's or verdict map's keys (`tcp dport map
# { 80 : 10.2.0.10 }`, `vmap @ports`): a port-forward's ports are in its map
_NFT_PORTS = re.compile(r"\b(tcp|udp|th)\s+dport\s+(?:!=\s*)?(?:v?map\s+)?(\{[^}]*\}|@[\w-]+|[\w:-]+)")
_NFT_SET = re.compile(r"\b(?:set|map)\s+([\w-]+)\s*\{[^{}]*?\belements\s*=\s*\{([^}]*)\}", re.S)


def ports(text: str) -> set[tuple[str, int]]:
    """(protocol, port) of every `dport` of an nft file (sets and maps included) and of
    where its DNATs and redirects land (nslab.firewall.landings: its listener must be
    there, or the flow reads "refused"); `th dport`: both protocols."""
    found: set[tuple[str, int]] = set()
    body = "\n".join(line.split("#", 1)[0] for line in text.splitlines())
    sets = {name: elements for name, elements in _NFT_SET.findall(body)}
    for proto, expr in _NFT_PORTS.findall(body):
        expr = sets.get(expr[1:], "") if expr.startswith("@") else expr
        # a map's elements (`80 : 10.2.0.10`): the key is the port, the value is not
        expr = ",".join(e.split(":", 1)[0] for e in expr.split(","))
        for p in ("tcp", "udp") if proto == "th" else (proto,):
            found.update((p, port) for port in port_values(expr, p))
    return found | nft_landings(text)


# --- what `nft -c` says, as a Problem at the faulty line --------------------------------------


def nft_words(line: str) -> list[str]:
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
    if line is None and fix != PREFIX_FIX:  # nothing points at a line: say how to see nft's own words
        fix = f"nft named no line: `nft -c -f {path.name}` shows its whole message"
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
        for word in nft_words(lines[line - 1]):
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


# nft's `include "FILE"`: nft 1.0.6 reads a relative FILE from its working folder (or, a bare
# name, its include path), so Debian's examples/all-in-one.nft (`include "./inet-filter.nft"`)
# loads only when run from its own folder. nslab reads it from the including file's folder,
# wherever it runs, and copies the included files with the ruleset (a remote target has none).
INCLUDE = re.compile(r'^(?P<head>[ \t]*include[ \t]+")(?P<file>[^"]+)"', re.M)


def placements(path: Path, where: str) -> list[Placed]:
    """A ruleset file put at `where`, first, then every file it includes (nft), each at
    where.d/N-NAME (a wildcard's matches in where.d/N/); absolute includes stay the
    machine's. An include of a file that is not there is one LabError naming it."""
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
                f"{shown(file)}: line {line}: includes nest deeper than {DEEPEST}",
                "does a file include itself? nft stops there too",
            )
        n = next(count)
        if WILDCARD.search(name):
            if WILDCARD.search(str(Path(name).parent)):
                raise LabError(
                    f'{shown(file)}: line {line}: include "{name}": a wildcard in a folder name',
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
                f'{shown(file)}: line {line}: include "{name}": there is no {shown(found)}',
                "an include is read from the including file's folder: name a file there",
            )
        at = f"{where}.d/{n}-{found.name}"
        place(found, at, depth + 1)
        return at

    place(path, where, 0)
    return [out[-1], *out[:-1]]  # the file itself first


# --- rule coverage's counting rules in a world's copy (nslab.firewall.instrument) ------------


def listing(runner: Runner, ns: str | None) -> str:
    """A place's ruleset as `nft -j list ruleset` prints it (what instrument.plan reads)."""
    return runner.run(["nft", "-j", "list", "ruleset"], ns=ns).stdout


def add(runner: Runner, ns: str | None, commands: list[dict[str, Any]]) -> bool:
    """nslab's counting rules into a place's copy, as one `nft -j -f` batch: whether nft took it."""
    return runner.run(["nft", "-j", "-f", "-"], ns=ns, stdin=json.dumps({"nftables": commands})).rc == 0
