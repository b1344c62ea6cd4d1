"""'did you mean': the nslab phrasings closest to a step behave could not match.

behave answers a misspelt step with a generic snippet to implement it; a user of nslab
almost always meant one of its phrasings. A phrasing's `{placeholder}` matches any words,
so `Then red pings blu` is compared with `{src} pings {dst}` word by word: the distance
counts words added, dropped or changed (a changed word costs how unlike it is). A word
counts as changed only where it is a near spelling (difflib's ratio at least
WORD_CUTOFF): `the moon is full` is no misspelling of `the connection is refused`, and
no suggestion is better than a far one.

>>> closest("the reachabilty matrix holds", ["the reachability matrix holds", "{src} pings {dst}"])
['the reachability matrix holds']
>>> closest("red ping blue", ["{src} pings {dst}", "the reachability matrix holds"])
['{src} pings {dst}']
"""

from __future__ import annotations

import difflib
import re

_FIELD = re.compile(r"\{[^{}]*\}")
WORD_CUTOFF = 0.6  # difflib's own default for close matches: cat/connection is not one


def _token(word: str) -> tuple[re.Pattern[str], str, bool]:
    """A phrasing's word as (regex, its literal text, whether it holds a placeholder)."""
    parts = _FIELD.split(word)
    regex = ".+".join(re.escape(p) for p in parts)
    return re.compile(regex, re.I), "".join(parts), len(parts) > 1


def distance(text: str, pattern: str) -> float:
    """Word edit distance of a step text to a phrasing (0: it matches), per literal word of
    the phrasing: a placeholder takes one or more words at no cost, so the phrasing's own
    words decide."""
    words = text.split()
    tokens = [_token(w) for w in pattern.split()]
    n, m = len(words), len(tokens)
    inf = float("inf")
    d = [[inf] * (m + 1) for _ in range(n + 1)]
    d[0][0] = 0.0
    for i in range(n + 1):
        for j in range(m + 1):
            here = d[i][j]
            if here == inf:
                continue
            if i < n:
                d[i + 1][j] = min(d[i + 1][j], here + 1)  # a word the phrasing lacks
            if j < m:
                d[i][j + 1] = min(d[i][j + 1], here + 1)  # a word the text lacks
            if i == n or j == m:
                continue
            regex, literal, has_field = tokens[j]
            for k in range(i + 1, n + 1 if has_field else i + 2):  # a field may take words
                span = " ".join(words[i:k])
                if regex.fullmatch(span):
                    cost = 0.0
                elif k == i + 1:
                    ratio = difflib.SequenceMatcher(None, span.lower(), literal.lower()).ratio()
                    if ratio < WORD_CUTOFF:
                        continue  # another word, not a misspelling: a word added and one dropped
                    cost = 1 - ratio
                else:
                    continue
                d[k][j + 1] = min(d[k][j + 1], here + cost)
    literals = sum(1 for _, literal, _ in tokens if literal.strip("'\"")) or 1
    return d[n][m] / literals


def closest(text: str, patterns: list[str], n: int = 3, cutoff: float = 0.34) -> list[str]:
    """Up to n phrasings within `cutoff`, nearest first."""
    scored = sorted((distance(text, p), p) for p in set(patterns))
    return [p for score, p in scored if 0 < score <= cutoff][:n]


def readable(pattern: str) -> str:
    """A regular-expression phrasing as a person writes it: named groups as {name}.

    >>> readable(r"^(?P<src>.+?) pings (?P<dest>.+?) (?P<count>\\d+) times?$")
    '{src} pings {dest} {count} times'
    """
    out, i = [], 0
    text = pattern.removeprefix("^").removesuffix("$")
    while i < len(text):
        m = re.match(r"\(\?P<(\w+)>", text[i:])
        if m is None:
            out.append(text[i])
            i += 1
            continue
        depth, j = 1, i + m.end()
        while j < len(text) and depth:  # to the group's closing parenthesis
            depth += {"(": 1, ")": -1}.get(text[j], 0)
            j += 1
        out.append("{" + m[1] + "}")
        i = j
    words = re.sub(r"(\w)\?", r"\1", "".join(out))  # "times?" reads "times"
    return re.sub(r"\\(.)", r"\1", words)


def registered(step_registry: object) -> dict[str, str]:
    """Every phrasing of a behave step registry (nslab's and the project's own), readable,
    with its keyword."""
    found: dict[str, str] = {}
    for step_type, matchers in step_registry.steps.items():  # type: ignore[attr-defined]
        for matcher in matchers:
            pattern = getattr(matcher, "pattern", None)
            if isinstance(pattern, str):
                found.setdefault(readable(pattern), step_type.capitalize())
    return found


def did_you_mean(text: str, step_registry: object) -> list[str]:
    """'Keyword phrasing' of the closest registered phrasings."""
    known = registered(step_registry)
    return [f"{known[p]} {p}" for p in closest(text, list(known))]
