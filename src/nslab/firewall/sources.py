"""Where a deciding rule was written: the user's own words for it and its file and line.

"Which rule decided" names a rule by place, table, chain and position, as the kernel
holds it; a person reads their own file. A ruleset file loads its rules into each chain
in the order it gives them (nslab.firewall.rulemap), so the Nth rule the file gives a chain is
the chain's Nth rule once loaded, as long as nothing else added rules to that chain (a
script, a step): the chain then holds more rules than the file gives it, and nslab does
not guess which is which (the rule keeps its tool's own text, without a file and line).

>>> from nslab.firewall.evidence import Decision
>>> written = {("router", "inet filter", "forward"): [Written("counter drop", "router.nft:36")]}
>>> d = Decision("router", "inet filter", "forward", 1, "DROP", "drop", 1, of=1)
>>> attach(d, written).describe(counted=False)
'router: dropped by forward rule 1 (counter drop) in table inet filter at router.nft:36'
>>> attach(Decision("router", "inet filter", "forward", 1, "DROP", "drop", 1, of=2), written).source
''
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

from nslab.commands import Runner
from nslab.firewall import rulemap
from nslab.firewall.evidence import HOST, Decision, Written, attach
from nslab.lab import Lab

__all__ = ["Decision", "Written", "attach", "of_file", "of_lab"]


_READ: dict[tuple[str, Path], tuple[tuple[int, int], str]] = {}  # (kind, path) -> (stat, text)


def _text(kind: str, path: Path) -> str:
    """The file's text, read again only once it changed (nslab mutate rewrites a lab's
    copy between runs; every probe of a scenario asks)."""
    st = path.stat()
    stamp = (st.st_mtime_ns, st.st_size)
    known = _READ.get((kind, path))
    if known is None or known[0] != stamp:
        known = _READ[(kind, path)] = (stamp, path.read_text(errors="replace"))
    return known[1]


def of_file(where: str, kind: str, path: Path) -> dict[tuple[str, str, str], list[Written]]:
    """One ruleset file's rules, by chain; a script's have no lines (read from the world)."""
    if kind == "script" or not path.is_file():
        return {}
    text = _text(kind, path)
    rules = rulemap.nft_rules(text) if kind == "nft" else rulemap.iptables_rules(text, v6=kind == "ip6tables")
    out: dict[tuple[str, str, str], list[Written]] = {}
    for r in rules:
        out.setdefault((where, r.table, r.chain), []).append(
            Written(rulemap.rule_words(r), f"{path.name}:{r.line}")
        )
    return out


def of_lab(lab: Lab) -> dict[tuple[str, str, str], list[Written]]:
    """Every ruleset file of the lab's hosts, by place (the host's namespace), table, chain.
    Two files giving one chain (an iptables and an ip6tables file never do: their tables
    differ) append in the order the lab loads them."""
    out: dict[tuple[str, str, str], list[Written]] = {}
    for host in lab.hosts:
        for r in host.rulesets:
            for key, rules in of_file(host.name, r.kind, r.path).items():
                out.setdefault(key, []).extend(rules)
    return out


# nft's own listing names rules by handle: `tcp dport 7 counter packets 3 bytes 180 accept # handle 14`
_BLOCK = re.compile(r"^\s*(table|chain) (\S+(?: \S+)?) \{")
_RULE = re.compile(r"^\s*(.*\S) # handle (\d+)$")
COUNTED = re.compile(r"\bcounter packets \d+ bytes \d+")


def listed_text(rule: str) -> str:
    """A rule as nft lists it, without the counts of the moment: `tcp dport 7 counter accept`."""
    return COUNTED.sub("counter", rule).strip()


def nft_texts(listing: str) -> dict[tuple[str, str, int], str]:
    """`nft -a list ruleset`: (table as nslab names it, chain, handle) -> the rule's text."""
    out: dict[tuple[str, str, int], str] = {}
    table = chain = ""
    for line in listing.splitlines():
        if m := _BLOCK.match(line):
            if m[1] == "table":
                words = m[2].split()
                table, chain = (m[2] if len(words) == 2 else f"ip {m[2]}"), ""
            else:
                chain = m[2].split()[0]
        elif (m := _RULE.match(line)) and chain:
            out[(table, chain, int(m[2]))] = listed_text(m[1])
    return out


def listed(runner: Runner, found: Sequence[Decision], places: Sequence[str]) -> list[Decision]:
    """Native nft rules no ruleset file gives (a step's, a script's), as nft itself lists
    them, as the trace names them in explore: the same words in a scenario and explore,
    never nslab's rendering of nft's JSON. One listing a place, only where needed."""
    tools = {p.partition(":")[0]: p.partition(":")[2] for p in places}
    wanted = {
        d.where for d in found if d.handle is not None and not d.source and "nft" in tools.get(d.where, "")
    }
    texts = {
        where: nft_texts(
            runner.run(["nft", "-a", "list", "ruleset"], ns=None if where == HOST else where).stdout
        )
        for where in sorted(wanted)
    }
    out = []
    for d in found:
        text = texts.get(d.where, {}).get((d.table, d.chain, d.handle or 0))
        out.append(replace(d, text=text) if text and not d.source else d)
    return out
