"""The elements of a ruleset's named sets and maps (`set mailports { ... }`, `map portfwd
{ ... }`, looked up as `@mailports`, `@portfwd`), as rule coverage counts them
(nslab.firewall.instrument): one counting rule of nslab's per element, as for an
anonymous map's, with the element's key in place of the set's name.

An element is counted only where the elements the lab was built with are the ones packets
meet: a set whose elements come and go (`flags dynamic` or `timeout`, filled by a rule's
`add @s` / `update @s`, or empty when the lab is built) is not measured, and said so, as
is one too large to give a rule per element.

>>> s = NamedSet("ip gw", "mailports", [25, 587, 993])
>>> why_not(s, set())
''
>>> why_not(NamedSet("ip gw", "seen", [], ["timeout"]), set())
'its elements come and go (flags timeout)'
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

# a rule per element: a blocklist of thousands would add thousands of rules to the copy
MOST = 256


@dataclass
class NamedSet:
    table: str  # "FAMILY NAME"
    name: str
    keys: list[object]  # each element's key, as `nft -j` lists it (a map's without its data)
    flags: list[str] = field(default_factory=list)


def named(listing: dict[str, Any]) -> dict[tuple[str, str], NamedSet]:
    """Every named set and map of an `nft -j list ruleset`, by (table, name)."""
    out: dict[tuple[str, str], NamedSet] = {}
    for item in listing.get("nftables", []):
        for kind in ("set", "map"):
            s = item.get(kind)
            if not isinstance(s, dict) or "name" not in s:
                continue
            keys = [_key(e[0] if isinstance(e, list) else e) for e in s.get("elem", [])]
            table = f"{s['family']} {s['table']}"
            out[(table, s["name"])] = NamedSet(table, s["name"], keys, list(s.get("flags", [])))
    return out


def _key(e: object) -> object:
    """An element's key: one with a counter or a timeout is listed as `{"elem": {"val": ...}}`."""
    if isinstance(e, dict) and isinstance(e.get("elem"), dict):
        return e["elem"].get("val")
    return e


def filled(listing: dict[str, Any]) -> set[tuple[str, str]]:
    """The named sets a rule adds to or updates as packets come (`add @seen { ip saddr }`,
    `update @m { ... }`): (table, name)."""
    out: set[tuple[str, str]] = set()
    for item in listing.get("nftables", []):
        r = item.get("rule")
        if not isinstance(r, dict):
            continue
        for e in r.get("expr", []):
            for kind in ("set", "map"):
                st = e.get(kind)
                if isinstance(st, dict) and st.get("op") in ("add", "update", "delete"):
                    name = str(st.get("set", st.get("map", ""))).lstrip("@")
                    out.add((f"{r['family']} {r['table']}", name))
    return out


def why_not(s: NamedSet, changing: set[tuple[str, str]]) -> str:
    """Why the elements of `s` cannot be counted one by one; "" where they can."""
    moving = [f for f in s.flags if f in ("dynamic", "timeout")]
    if moving:
        return f"its elements come and go (flags {', '.join(moving)})"
    if (s.table, s.name) in changing:
        return "a rule adds its elements as packets come"
    if not s.keys:
        return "it has no elements when the lab is built"
    if len(s.keys) > MOST:
        return f"it has {len(s.keys)} elements (nslab counts up to {MOST}, a rule each)"
    return ""


def set_match(matches: list[dict[str, Any]]) -> tuple[int, str, str] | None:
    """The first of a rule's matches against a named set (`tcp dport @mailports`): its
    index, the set's name and the match's operator."""
    for n, m in enumerate(matches):
        right = m.get("match", {}).get("right")
        if isinstance(right, str) and right.startswith("@"):
            return n, right[1:], str(m["match"].get("op", "=="))
    return None
