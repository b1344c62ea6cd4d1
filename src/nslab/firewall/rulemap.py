"""Where each rule of a user's ruleset file is: its table, chain, position and line.

Rule coverage and mutation name rules by the file and line the user wrote them on, while
the kernel lists them by table, chain and position. A ruleset file loads its rules into
each chain in the order it gives them, so the Nth rule the file gives a chain is the
chain's Nth rule once loaded; `insert` (nft) and `-I` (iptables) put theirs in front.
Pure logic over the file's text.

>>> [(r.table, r.chain, r.line, r.text) for r in nft_rules(
...     "table inet t {\\n  chain c {\\n    type filter hook input priority 0; policy drop;\\n"
...     "    tcp dport 22 accept # ssh\\n  }\\n}\\n")]
[('inet t', 'c', 4, 'tcp dport 22 accept')]
>>> six = "*filter\\n:INPUT DROP [0:0]\\n-A INPUT -j ACCEPT\\nCOMMIT\\n"
>>> [(r.table, r.chain, r.line) for r in iptables_rules(six, v6=True)]
[('ip6 filter', 'INPUT', 3)]
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass

FAMILIES = ("ip", "ip6", "inet", "arp", "bridge", "netdev")
# statements inside a chain block that declare the chain, not a rule
_DECLARATIONS = ("type", "policy", "comment", "devices", "device", "priority", "hook")


# the first word of a statement a `{` after which opens a block (else it is a set literal)
_BLOCKS = (
    "table", "chain", "set", "map", "flowtable", "counter", "quota", "ct", "limit", "secmark",
    "synproxy", "add", "create", "define", "elements",
)  # fmt: skip


# named objects' blocks: `limit NAME {`, `ct helper NAME {`; a rule may start with the
# same word (`limit rate 10/second tcp dport { 22, 80 } accept`, `ct helper set udp dport
# map { ... }`: a rule with a set, not a block)
_NAMED = {"counter": 2, "quota": 2, "limit": 2, "secmark": 2, "synproxy": 2, "ct": 3}


def _opens_block(words: list[str]) -> bool:
    """Whether a `{` after these words opens a block (else a set or map of a rule)."""
    if not words:
        return True
    if words[0] in _NAMED:
        return len(words) == _NAMED[words[0]]
    return words[0] in _BLOCKS


@dataclass(frozen=True)
class FileRule:
    table: str  # as nslab names tables: "inet edge", "ip nat"; iptables: "filter", "ip6 filter"
    chain: str
    line: int  # 1-based line of the file
    text: str  # the rule as the file writes it


@dataclass(frozen=True)
class _Statement:
    line: int
    words: str
    opens: bool  # followed by "{"


def _statements(text: str) -> list[_Statement | str]:
    """The file as statements (with their first line) and closing braces; comments,
    quoted strings and line continuations handled."""
    out: list[_Statement | str] = []
    word: list[str] = []
    start = 0
    line = 1
    quote = False
    literal = 0  # depth of an anonymous set, map or verdict map inside a statement
    i = 0

    def flush(opens: bool = False) -> None:
        nonlocal word
        said = " ".join("".join(word).split())  # a rule over several lines, as one
        if said or opens:
            out.append(_Statement(start, said, opens))
        word = []

    while i < len(text):
        ch = text[i]
        if quote:
            word.append(ch)
            quote = ch != '"'
        elif ch == '"':
            quote = True
            word.append(ch)
        elif ch == "#":
            while i < len(text) and text[i] != "\n":
                i += 1
            continue
        elif literal and ch in "{}":
            literal += 1 if ch == "{" else -1
            word.append(ch)
        elif ch == "{" and not _opens_block("".join(word).split()):
            literal = 1  # `tcp dport { 443, 5432 }`: a set, not a block
            word.append(ch)
        elif ch == "\\" and text[i + 1 : i + 2] == "\n":
            line += 1
            i += 2
            word.append(" ")
            continue
        elif ch in "\n;" and literal:
            word.append(" ")
        elif ch in "\n;":
            flush()
        elif ch == "{":
            flush(opens=True)
        elif ch == "}":
            flush()
            out.append("}")
        else:
            if not "".join(word).strip() and not ch.isspace():
                start = line
            word.append(ch)
        if ch == "\n":
            line += 1
        i += 1
    flush()
    return out


def _table_name(words: list[str]) -> str:
    """`table inet edge` / `table edge` (family ip) -> "inet edge"."""
    if len(words) >= 2 and words[0] in FAMILIES:
        return f"{words[0]} {words[1]}"
    return f"ip {words[0]}" if words else ""


def nft_rules(text: str) -> list[FileRule]:
    """Every rule an `nft -f` file gives, in the order each chain will hold them: rules
    inside `table { chain { ... } }` blocks, and `add rule` / `insert rule` commands."""
    chains: dict[tuple[str, str], list[FileRule]] = {}
    stack: list[tuple[str, str]] = []  # ("table", name) / ("chain", name) / ("other", "")
    for st in _statements(text):
        if st == "}":
            if stack:
                stack.pop()
            continue
        assert isinstance(st, _Statement)
        words = st.words.split()
        kinds = [k for k, _ in stack]
        if st.opens:
            if words[:1] == ["table"] or (words[:2] in (["add", "table"], ["create", "table"])):
                rest = words[1:] if words[0] == "table" else words[2:]
                stack.append(("table", _table_name(rest)))
            elif words[:1] == ["chain"] and kinds == ["table"]:
                stack.append(("chain", words[1] if len(words) > 1 else ""))
            else:
                stack.append(("other", ""))
            continue
        if kinds == ["table", "chain"]:
            if words and words[0] not in _DECLARATIONS:
                key = (stack[0][1], stack[1][1])
                chains.setdefault(key, []).append(FileRule(key[0], key[1], st.line, st.words))
            continue
        if not stack and words[:2] in (["add", "rule"], ["insert", "rule"], ["flush", "chain"]):
            rest = words[2:]
            family = rest[0] if rest and rest[0] in FAMILIES else "ip"
            if rest and rest[0] in FAMILIES:
                rest = rest[1:]
            if len(rest) < 2:
                continue
            key = (f"{family} {rest[0]}", rest[1])
            if words[0] == "flush":
                chains[key] = []
                continue
            rule = FileRule(key[0], key[1], st.line, " ".join(rest[2:]))
            if words[0] == "insert":
                chains.setdefault(key, []).insert(0, rule)
            else:
                chains.setdefault(key, []).append(rule)
    return [r for rules in chains.values() for r in rules]


_INSERT = re.compile(r"^-I\s+(\S+)(?:\s+(\d+))?\s")


def iptables_rules(text: str, v6: bool = False) -> list[FileRule]:
    """Every `-A` / `-I` rule of an iptables-restore (ip6tables-restore) file, in chain
    order; tables named as nslab's snapshots name them ("filter", "ip6 filter")."""
    chains: dict[tuple[str, str], list[FileRule]] = {}
    table = ""
    for n, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if line.startswith("*"):
            table = ("ip6 " if v6 else "") + line[1:].strip()
        elif line.startswith("-A ") and table:
            chain = line.split()[1]
            chains.setdefault((table, chain), []).append(FileRule(table, chain, n, line))
        elif (m := _INSERT.match(line + " ")) and table:
            chain, at = m[1], int(m[2] or 1)
            rules = chains.setdefault((table, chain), [])
            rules.insert(max(0, min(len(rules), at - 1)), FileRule(table, chain, n, line))
    return [r for rules in chains.values() for r in rules]


def rule_words(rule: FileRule) -> str:
    """The rule without iptables' `-A CHAIN` (nft rules are already bare)."""
    if rule.text.startswith(("-A ", "-I ")):
        args = shlex.split(rule.text)
        skip = 3 if len(args) > 2 and args[0] == "-I" and args[2].isdigit() else 2
        return " ".join(args[skip:])
    return rule.text
