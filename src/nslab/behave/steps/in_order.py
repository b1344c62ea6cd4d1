"""Lines expected in order in a listing or an output (`the output shows`, `the ruleset
shows, in order`): one search for both steps."""

from __future__ import annotations

from collections.abc import Sequence


def missing_in_order(wanted: str, lines: Sequence[str]) -> str | None:
    """The first line of `wanted` (runs of blanks as one space) that is not part of a line of
    `lines` after the one the line before it was found in; None when every one is."""
    pos = 0
    for line in wanted.strip().splitlines():
        want = " ".join(line.split())
        while pos < len(lines) and want not in lines[pos]:
            pos += 1
        if pos == len(lines):
            return want
        pos += 1
    return None
