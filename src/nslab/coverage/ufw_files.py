"""A ufw folder's own `before.rules`, `after.rules` (`before6.rules`, `after6.rules`): the
user wrote them in place of the package's, so their rules are the user's, each at its line
(nslab.coverage.ufw reports the package's as ufw's own). ufw loads each file with
iptables-restore, so a chain it fills holds the file's rules of that chain, in order, then
ufw's jump to the user's chain; a chain the kernel holds otherwise is said, its rules not
counted."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from nslab.coverage.files import RuleHits
from nslab.firewall import rulemap

FOLDER_FILES = (
    ("before.rules", False),
    ("after.rules", False),
    ("before6.rules", True),
    ("after6.rules", True),
)
Key = tuple[str, ...]
_JUMP = re.compile(r"-j ufw6?-user-(input|output|forward)")


@dataclass
class Mapped:
    path: Path
    rules: list[RuleHits]
    wants: list[list[Key]]  # per rule: the reading's key of its kernel rule (none: not counted)
    note: str


def folder_files(folder: Path, first: dict[Key, int | None]) -> list[Mapped]:
    """Each of those files the folder has, its rules mapped to the reading's own keys
    (("own", table, chain, position, rule), in position order)."""
    held: dict[tuple[str, str], list[Key]] = {}
    for k in first:
        if k[0] == "own":
            held.setdefault((k[1], k[2]), []).append(k)
    out = []
    for name, v6 in FOLDER_FILES:
        path = folder / name
        if not path.is_file():
            continue
        found = rulemap.iptables_rules(path.read_text(errors="replace"), v6=v6)
        given: dict[tuple[str, str], int] = {}
        for r in found:
            given[(r.table, r.chain)] = given.get((r.table, r.chain), 0) + 1
        seen: dict[tuple[str, str], int] = {}
        rules, wants, notes = [], [], {}
        for r in found:
            where = (r.table, r.chain)
            seen[where] = n = seen.get(where, 0) + 1
            kernel = held.get(where, [])
            # ufw appends its jump to the user's rules (`-A ufw-before-input -j ufw-user-input`)
            extra = [k[4] for k in kernel[given[where] :]]
            ok = len(kernel) >= given[where] and all(_JUMP.fullmatch(x) for x in extra)
            if not ok:
                notes[where] = (
                    f"chain {r.chain} of table {r.table} holds {len(kernel)} rules where {name} gives "
                    f"{given[where]}: its rules are not counted"
                )
            rules.append(RuleHits(r.line, rulemap.rule_words(r), 0 if ok else None))
            wants.append([kernel[n - 1]] if ok else [])
        out.append(Mapped(path, rules, wants, "; ".join(notes.values())))
    return out
