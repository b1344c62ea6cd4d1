"""The ports a port-forward lands on, read from a ruleset file (nslab explore listens there:
without a listener at the landing place, a working forward reads "refused").

A DNAT names where it sends a flow in several ways: an address with a port (`dnat to
10.2.0.10:1234`, `[2001:db8::10]:80`, iptables' `--to-destination 10.2.0.10:1234`), a map
whose values are address and port (`tcp dport map { 2222 : 10.2.0.10 . 22 }`), or a port
map after the address one (Debian's examples/nat.nft: `dnat tcp dport map { 1000 :
10.2.0.10 } : tcp dport map { 1000 : 1234 }`); a redirect, `to :PORT` or a map. Either
map may be a named one (`map @fwd`), whose elements the file declares.

>>> sorted(nft_landings("dnat tcp dport map { 1000 : 10.2.0.10 } \\\\\\n  : tcp dport map { 1000 : 1234 }"))
[('tcp', 1234)]
>>> sorted(iptables_landings("-A PREROUTING -p tcp --dport 1000 -j DNAT --to-destination 10.2.0.10:1234"))
[('tcp', 1234)]
"""

from __future__ import annotations

import re

PROTOS = ("tcp", "udp")
# `10.2.0.10:80`, `[2001:db8::10]:80`, a map value's `10.2.0.10 . 80`
_ADDRESS_PORT = re.compile(r"(?:\]|\b\d{1,3}(?:\.\d{1,3}){3})(?::|\s+\.\s+)(\d+)\b")
_NAMED = re.compile(r"\b(?:set|map)\s+([\w-]+)\s*\{[^{}]*?\belements\s*=\s*\{([^}]*)\}", re.S)
_MAP = re.compile(r"\bmap\s*\{([^}]*)\}")
_REDIRECT_TO = re.compile(r"\bredirect\b.*?\bto\s+:\s*(\d+)\b")
_NAT = re.compile(r"\b(dnat|redirect)\b")


def _valid(port: str) -> int | None:
    n = int(port)
    return n if 1 <= n <= 65535 else None


def _statements(body: str) -> list[str]:
    """Each dnat or redirect rule's text, from the start of its line to its end: a `\\`
    continuation and an anonymous map over several lines are the same rule."""
    out = []
    for m in _NAT.finditer(body):
        start = body.rfind("\n", 0, m.start()) + 1
        depth, end = 0, len(body)
        for i in range(m.end(), len(body)):
            c = body[i]
            if c == "{":
                depth += 1
            elif c == "}":
                depth -= 1
                if depth < 0:  # the chain's own end
                    end = i
                    break
            elif c in "\n;" and depth == 0:
                end = i
                break
        out.append(body[start:end])
    return out


def nft_landings(text: str) -> set[tuple[str, int]]:
    """(protocol, port) of every place an nft file's DNATs and redirects send a flow to; a
    rule that names no `tcp dport` or `udp dport`: both protocols."""
    body = "\n".join(line.split("#", 1)[0] for line in text.splitlines()).replace("\\\n", " ")
    named = dict(_NAMED.findall(body))
    found: set[tuple[str, int]] = set()
    for rule in _statements(body):
        words = _NAT.search(rule)
        assert words is not None  # _statements found it
        head, tail = rule[: words.start()], rule[words.start() :]
        # a named map is its elements (`map @fwd`: `{ 22 : 10.2.0.10 . 2222 }`)
        tail = re.sub(r"\bmap\s+@([\w-]+)", lambda m: "map { " + named.get(m[1], "") + " }", tail)
        protos = set(re.findall(r"\b(tcp|udp)\s+dport\b", head + tail)) or set(PROTOS)
        ports = [_valid(p) for p in _ADDRESS_PORT.findall(tail)]
        ports += [_valid(p) for p in _REDIRECT_TO.findall(tail)]
        for elements in _MAP.findall(tail):
            for element in elements.split(","):
                # `1000 : 1234`: a value of digits alone is a port (an address never is)
                _, colon, value = element.partition(":")
                if colon and value.strip().isdigit():
                    ports.append(_valid(value.strip()))
        found.update((proto, port) for port in ports if port for proto in protos)
    return found


_IPT_PROTO = re.compile(r"(?:^|\s)(?:-p|--protocol)\s+(tcp|udp)\b")
_IPT_TO = re.compile(
    r"(?:--to-destination\s+(?:\[[0-9A-Fa-f:]+\]|[\d.]+)?:(\d+)|--to-ports\s+(\d+))(?=[-\s]|$)"
)
_IPT_NAT = re.compile(r"(?:-j|--jump)\s+(DNAT|REDIRECT)\b")


def iptables_landings(text: str) -> set[tuple[str, int]]:
    """(protocol, port) every DNAT (`--to-destination ADDRESS:PORT`) and REDIRECT
    (`--to-ports PORT`) of an iptables file sends a flow to; a rule without -p: both."""
    found: set[tuple[str, int]] = set()
    for line in (x.split("#", 1)[0] for x in text.splitlines()):
        if not _IPT_NAT.search(line):
            continue  # MASQUERADE's and SNAT's --to-ports are source ports
        proto = _IPT_PROTO.search(line)
        for dnat, redirect in _IPT_TO.findall(line):
            port = _valid(dnat or redirect)
            if port:
                found.update((p, port) for p in ((proto[1],) if proto else PROTOS))
    return found
