"""Making ruleset mutants (pure logic over the files' text; nslab.coverage.mutate runs them).

For each rule of a ruleset file: the rule deleted; its verdict turned (accept <-> drop,
reject -> accept); each port it matches moved by one either way; an address match
negated; an interface match (`iif`, `oif`, `iifname`, `oifname`; iptables `-i`, `-o`)
negated or turned to another interface of the host. A rule written over several lines
(a `\\` continuation, a set spanning lines) is one logical rule: deleted whole, named by
its first line. Each element of a set or map, anonymous (`tcp dport { 80, 8080 }`) or
named (`elements = { ... }`, `add element ...`), removed on its own: `line 8, element
8080`. Removed text keeps its newlines, so every other line keeps its number.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from nslab.firewall import RULESETS, get_kind, rulemap
from nslab.lab import Lab


@dataclass(frozen=True)
class Mutant:
    file: Path  # the ruleset file (absolute)
    name: str  # as the lab file names it
    line: int
    mutation: str  # `deleting "tcp dport 22 accept"`, `accept -> drop`, `port 443 -> 444` ...
    text: str  # the whole mutated file
    rule: int = 0  # the first line of the rule it changes (0: a named set's element)
    element: str = ""  # the set or map element it removes (a firewalld element: as written)
    host: str = ""  # a manager's mutant (nslab.managers.mutants): the host that runs it
    manager: str = ""  # and which manager: ufw, firewalld

    def words(self) -> str:
        return f"{self.name}:{self.line}: {self.mutation}"


_NFT_VERDICT = re.compile(r"\b(accept|drop|reject(?: with [\w-]+(?: type)? [\w-]+)?)(?=\s*(?:comment\b.*)?$)")
_IPT_VERDICT = re.compile(r"-j (ACCEPT|DROP|REJECT(?: --reject-with \S+)?)\b")
_NFT_PORTS = re.compile(r"\b(?:dport|sport) (?:!= )?(\{[^}]*\}|\d+)")
_IPT_PORTS = re.compile(r"--(?:dport|sport|dports|sports) (\S+)")
_NFT_ADDRESS = re.compile(r"\b(ip6? (?:saddr|daddr)) (?!!=)([0-9a-fA-F:.]+(?:/\d+)?)")
_IPT_ADDRESS = re.compile(r"(?<!! )(-[sd]) (\S+)")
# an interface by name or index; not a set, a map lookup, a concatenation, nor fib's
# `fib saddr . iif oif missing` (its words are not interfaces)
_NFT_IFACE = re.compile(
    r"(?<!\. )\b((?:meta )?(?:iifname|oifname|iif|oif)) (?!!=)"
    r"(?!(?:v?map|iif|oif|iifname|oifname|missing|exists|type)\b)(\"[^\"]+\"|[A-Za-z][\w.-]*)"
)
_IPT_IFACE = re.compile(r"(?<=\s)(?<!! )(-[io]|--in-interface|--out-interface) (\S+)")


def _turned(verdict: str, nft: bool) -> str:
    word = verdict.split()[0]
    if nft:
        return {"accept": "drop", "drop": "accept"}.get(word, "accept")
    return {"ACCEPT": "DROP", "DROP": "ACCEPT"}.get(word, "ACCEPT")


def interface_names(text: str, nft: bool) -> list[str]:
    """The interfaces a ruleset file names in its interface matches, in file order."""
    out: list[str] = []
    for m in (_NFT_IFACE if nft else _IPT_IFACE).finditer(text):
        name = m[2].strip('"')
        if name not in out and "*" not in name and "+" not in name:
            out.append(name)
    return out


def line_mutants(line: str, nft: bool, interfaces: Sequence[str] = ()) -> list[tuple[str, str]]:
    """(mutation, mutated line) for one line of a rule; the deletion apart (see `mutants`).
    `interfaces`: the host's, for turning an interface match to another one.

    >>> [m for m, _ in line_mutants("    tcp dport { 443, 5432 } counter accept", nft=True)]
    ['accept -> drop', 'port 443 -> 442', 'port 443 -> 444', 'port 5432 -> 5431', 'port 5432 -> 5433']
    >>> line_mutants("-A INPUT -s 10.0.0.0/8 -j DROP", nft=False)[1]
    ('-s 10.0.0.0/8 negated', '-A INPUT ! -s 10.0.0.0/8 -j DROP')
    >>> for m in line_mutants('iifname "eth0" accept', nft=True, interfaces=["eth0", "eth1"])[1:]:
    ...     print(m)
    ('iifname "eth0" negated', 'iifname != "eth0" accept')
    ('iifname "eth0" -> "eth1"', 'iifname "eth1" accept')
    """
    body, hash_, comment = line.partition("#") if nft else (line, "", "")
    out: list[tuple[str, str]] = []
    verdicts = list((_NFT_VERDICT if nft else _IPT_VERDICT).finditer(body))
    if verdicts:
        v = verdicts[-1]
        said = v[1]
        new = _turned(said, nft)
        start, end = v.span(1)
        out.append((f"{said.split()[0]} -> {new}", body[:start] + new + body[end:] + hash_ + comment))
    for m in (_NFT_PORTS if nft else _IPT_PORTS).finditer(body):
        for p in re.finditer(r"\d+", m[1]):
            port = int(p[0])
            for moved in (port - 1, port + 1):
                if 0 < moved < 65536:
                    a, b = m.start(1) + p.start(), m.start(1) + p.end()
                    out.append(
                        (f"port {port} -> {moved}", body[:a] + str(moved) + body[b:] + hash_ + comment)
                    )
    for m in (_NFT_ADDRESS if nft else _IPT_ADDRESS).finditer(body):
        new_text = f"{m[1]} != {m[2]}" if nft else f"! {m[1]} {m[2]}"
        out.append(
            (f"{m[1]} {m[2]} negated", body[: m.start()] + new_text + body[m.end() :] + hash_ + comment)
        )
    for m in (_NFT_IFACE if nft else _IPT_IFACE).finditer(body):
        said = m[2].strip('"')
        negated = f"{m[1]} != {m[2]}" if nft else f"! {m[1]} {m[2]}"
        out.append(
            (f"{m[1]} {m[2]} negated", body[: m.start()] + negated + body[m.end() :] + hash_ + comment)
        )
        # another interface the host has (an index match must name one that exists)
        other = next((i for i in interfaces if i != said), None)
        if other is not None:
            shown = f'"{other}"' if m[2].startswith('"') else other
            out.append(
                (
                    f"{m[1]} {m[2]} -> {shown}",
                    body[: m.start(2)] + shown + body[m.end(2) :] + hash_ + comment,
                )
            )
    return out


# --- sets and maps -----------------------------------------------------------------------------


@dataclass(frozen=True)
class _Literal:
    """A `{ ... }` of elements: where the whole statement starts (a named set's
    `elements = ` or `add element ...`, removed when its last element goes; -1 for an
    anonymous set inside a rule, which cannot be empty) and each element's span."""

    statement: int
    end: int  # just after the closing brace
    elements: list[tuple[int, int]]


def _skip(text: str, i: int) -> int:
    """Past a comment or a quoted string starting at i (else i)."""
    if text[i] == "#":
        n = text.find("\n", i)
        return len(text) if n < 0 else n
    if text[i] == '"':
        n = text.find('"', i + 1)
        return len(text) if n < 0 else n + 1
    return i


def _literal(text: str, brace: int, statement: int) -> _Literal | None:
    """The elements of the `{` at `brace`, split at its top-level commas."""
    elements: list[tuple[int, int]] = []
    depth = 0
    start = brace + 1
    i = brace + 1
    while i < len(text):
        j = _skip(text, i)
        if j != i:
            i = j
            continue
        ch = text[i]
        if ch == "{":
            depth += 1
        elif ch == "}" and depth:
            depth -= 1
        elif ch == "}" or (ch == "," and not depth):
            elements.append((start, i))
            start = i + 1
            if ch == "}":
                kept = [_stripped(text, a, b) for a, b in elements if _clean(text[a:b])]
                return _Literal(statement, i + 1, kept)
        i += 1
    return None  # unbalanced: nft will say so


def _clean(s: str) -> str:
    return " ".join(re.sub(r"#[^\n]*", "", s).replace("\\\n", " ").split())


def _stripped(text: str, a: int, b: int) -> tuple[int, int]:
    """The span without surrounding blanks and comments."""
    part = text[a:b]
    lead = len(part) - len(part.lstrip())
    body = re.sub(r"#[^\n]*", lambda m: " " * len(m[0]), part).rstrip()
    return a + lead, a + len(body)


_NAMED = re.compile(r"\belements\s*=\s*\{|^[ \t]*(?:add|create) element\b[^{#\n]*\{", re.M)


def _named_literals(text: str) -> list[_Literal]:
    out = []
    for m in _NAMED.finditer(text):
        line_start = text.rfind("\n", 0, m.start()) + 1
        if "#" in text[line_start : m.start()]:
            continue  # commented out
        found = _literal(text, m.end() - 1, m.start())
        if found is not None:
            out.append(found)
    return out


def _anonymous_literals(text: str, start: int, end: int) -> list[_Literal]:
    """The outermost `{ ... }` inside one rule (text[start:end])."""
    out = []
    i = start
    while i < end:
        j = _skip(text, i)
        if j != i:
            i = j
            continue
        if text[i] == "{":
            found = _literal(text, i, -1)
            if found is None:
                break
            out.append(found)
            i = found.end
            continue
        i += 1
    return out


def _keep_lines(s: str) -> str:
    return "\n" * s.count("\n")


def _removals(text: str, lit: _Literal) -> list[tuple[str, int, str]]:
    """(element, its line, the text without it) for each element of a literal."""
    out = []
    els = lit.elements
    for k, (a, b) in enumerate(els):
        if len(els) == 1:
            if lit.statement < 0:
                continue  # `{ }` in a rule does not load; deleting the rule says the same
            a, b = lit.statement, lit.end  # a named set left empty
        elif k + 1 < len(els):
            b = els[k + 1][0]  # the element, its comma, up to the next one
        else:
            a = els[k - 1][1]  # the comma before the last element, and it
        element = _clean(text[els[k][0] : els[k][1]])
        line = text.count("\n", 0, els[k][0]) + 1
        out.append((element, line, text[:a] + _keep_lines(text[a:b]) + text[b:]))
    return out


# --- a file's mutants ------------------------------------------------------------------------------


def _span(lines: list[str], i: int) -> int:
    """The last line (0-based) of the logical rule starting at line i: lines ending in a
    `\\` continue it, and so does an open `{` (a set spanning lines)."""
    depth = 0
    j = i
    while j < len(lines):
        body = lines[j].rstrip("\n")
        k = 0
        while k < len(body):
            n = _skip(body, k)
            if n != k:
                k = n
                continue
            depth += {"{": 1, "}": -1}.get(body[k], 0)
            k += 1
        depth = max(depth, 0)  # a chain's `}` after the rule
        if not (body.rstrip().endswith("\\") or depth > 0) or j + 1 == len(lines):
            return j
        j += 1
    return i


def mutants(path: Path, kind: str, name: str, interfaces: Sequence[str] = ()) -> list[Mutant]:
    """Every mutant of one ruleset file, rule by rule in file order, then the elements of
    its named sets and maps. `interfaces`: the host's (a changed interface match uses one)."""
    text = path.read_text()
    lines = text.splitlines(keepends=True)
    k = get_kind(kind)
    nft = k.syntax == "nft"  # else iptables' (the kind's `syntax`: mutable() kinds only)
    rules = k.rules(text) or []
    names = [*interfaces, *interface_names(text, nft), "lo"]
    names = list(dict.fromkeys(names))
    out = []
    offsets = [0]
    for x in lines:
        offsets.append(offsets[-1] + len(x))
    inside: set[int] = set()  # lines of rules: their braces are anonymous sets
    for rule in sorted(rules, key=lambda r: r.line):
        i = rule.line - 1
        last = _span(lines, i) if nft else i
        inside.update(range(i, last + 1))

        def changed(j: int, new: str, i: int = i) -> str:
            return "".join([*lines[:j], new, *lines[j + 1 :]])

        shown = rulemap.rule_words(rule)
        deleted = "".join([*lines[:i], *(_keep_lines(x) for x in lines[i : last + 1]), *lines[last + 1 :]])
        out.append(Mutant(path, name, rule.line, f'deleting "{shown}"', deleted, rule.line))
        for j in range(i, last + 1):
            ending = "\n" if lines[j].endswith("\n") else ""
            for mutation, new in line_mutants(lines[j].rstrip("\n"), nft, names):
                out.append(Mutant(path, name, rule.line, mutation, changed(j, new + ending), rule.line))
        if nft:
            for lit in _anonymous_literals(text, offsets[i], offsets[last + 1]):
                for element, line, mutated in _removals(text, lit):
                    out.append(
                        Mutant(path, name, line, f"element {element} removed", mutated, rule.line, element)
                    )
    if nft:
        for lit in _named_literals(text):
            for element, line, mutated in _removals(text, lit):
                out.append(Mutant(path, name, line, f"element {element} removed", mutated, 0, element))
    return out


def of_lab(lab: Lab, lab_path: Path) -> list[Mutant]:
    """Every mutant of every ruleset file the lab gives a host."""
    out = []
    seen: set[Path] = set()
    for host in lab.hosts:
        for r in host.rulesets:
            if not mutable(r.kind) or r.path.resolve() in seen:
                continue
            seen.add(r.path.resolve())
            # every host that loads the file: its interfaces (and the uplink it may hold)
            names = [
                i.name
                for h in lab.hosts
                if any(x.path.resolve() == r.path.resolve() for x in h.rulesets)
                for i in h.interfaces
            ]
            if lab.upstream is not None and lab.upstream.via in {
                h.name for h in lab.hosts if any(x.path.resolve() == r.path.resolve() for x in h.rulesets)
            }:
                names.append(lab.upstream.uplink)
            out.extend(
                mutants(r.path, r.kind, os.path.relpath(r.path.resolve(), lab_path.resolve().parent), names)
            )
    return out


def mutable(kind: str) -> bool:
    """Whether nslab makes mutants of a file of `kind`: its rules are mapped to lines, in a
    syntax this module changes (a user's script has no rules to mutate by line)."""
    k = get_kind(kind)
    return k.syntax in ("nft", "iptables") and k.rules("") is not None


KINDS = tuple(name for name in RULESETS if mutable(name))  # nft, iptables, ip6tables
