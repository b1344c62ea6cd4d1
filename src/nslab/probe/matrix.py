"""The reachability matrix: many probes as one table, run concurrently in the scenario's
world, and on failure one table of the rows that differ, each with its deciding rule.

All rows are checked before anything runs (a bad row is one line naming it). The probes
then run together (one request to the world's netprobe helper): a 48-row matrix waits
for its slowest probe once, not 48 times. Counters taken around a concurrent batch cannot
say which row a rule decided, so each row that differs runs again alone, with counters
around it: its outcome is confirmed and its deciding rule named.

>>> table = rows(["from", "to", "service", "expect"], [["red", "blue", "tcp/80", "accepted"]])
>>> [(r.src, r.service.words(), r.expect) for r in table]
[('red', 'tcp/80', 'accepted')]
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from nslab.errors import LabError, NslabError, ProbeError
from nslab.firewall.evidence import Evidence
from nslab.probe.ports import ICMP_REASONS, OUTCOMES, Outcome, Prober, Service

COLUMNS = ("from", "to", "service", "expect")
_REJECTED = re.compile(r'rejected(?: with "?(?P<reason>[a-z-]+)"?)?\Z')


class MatrixSession(Protocol):
    @property
    def prober(self) -> Prober: ...

    @property
    def firewalls(self) -> tuple[str, ...]: ...

    def target_spec(self, src: str, dest: str, service: Service) -> dict[str, object]: ...

    def unrouted_rejects(self, src: str, service: Service, outcome: Outcome, evidence: Evidence) -> str: ...


@dataclass(frozen=True)
class Row:
    number: int  # 1-based, as a person counts the table's rows
    src: str
    dest: str
    service: Service
    expect: str  # an outcome word
    reason: str | None = None  # for "rejected with REASON"

    def cells(self) -> str:
        want = f'rejected with "{self.reason}"' if self.reason else self.expect
        return f"{self.src} | {self.dest} | {self.service.words()} | {want}"

    def holds(self, got: Outcome) -> bool:
        if self.service.proto == "icmp" and self.expect != "unreachable":
            return (got.outcome == "replies") == (self.expect == "replies")
        return got.outcome == self.expect and (self.reason is None or got.icmp == self.reason)


@dataclass(frozen=True)
class Mismatch:
    row: Row
    got: Outcome
    evidence: Evidence
    first: Outcome | None = None  # the concurrent run's outcome, where the rerun differed
    note: str = ""  # what the evidence alone would leave a reader to guess (an unrouted reject)


def rows(
    headings: Sequence[str],
    cells: Sequence[Sequence[str]],
    places: Callable[[str, str, Service], object] | None = None,
) -> list[Row]:
    """Validate the table: its columns, then every row; one LabError naming every bad row
    (1-based, as a person counts the table's rows). `places` (the session's target_spec)
    checks a row's hosts in the same pass: an unknown host was said only after the
    table's other bad rows were fixed, a run per kind of mistake."""
    missing = [c for c in COLUMNS if c not in headings]
    if missing:
        raise LabError(
            f"the reachability matrix has no {', '.join(missing)} column",
            "give it the columns | from | to | service | expect |",
        )
    at = {name: headings.index(name) for name in COLUMNS}
    out, bad = [], []
    for number, row in enumerate(cells, 1):
        text = " | ".join(row)
        values = {name: (row[i].strip() if i < len(row) else "") for name, i in at.items()}
        empty = [name for name, value in values.items() if not value]
        try:
            if empty:
                raise LabError(f"the {empty[0]} cell is empty", f"fill in the {empty[0]} column")
            service = Service.parse(values["service"])
            expect, reason = _expectation(values["expect"], service)
            if places is not None:
                places(values["from"], values["to"], service)
        except LabError as exc:
            bad.append((number, text, exc))
            continue
        out.append(Row(number, values["from"], values["to"], service, expect, reason))
    if len(bad) == 1:
        number, text, first = bad[0]
        raise LabError(f"matrix row {number} ({text}): {first.problem}", first.fix)
    if bad:  # every bad row at once: one edit fixes the table, not one run per row
        lines = "".join(f"\n  row {n} ({text}): {e.problem} (fix: {e.fix})" for n, text, e in bad)
        raise LabError(f"{len(bad)} matrix rows are wrong:{lines}")
    if not out:
        raise LabError("the reachability matrix has no rows", "add one row per probe")
    return out


def _expectation(text: str, service: Service) -> tuple[str, str | None]:
    allowed = OUTCOMES[service.proto]
    m = _REJECTED.match(text)
    if m and "rejected" in allowed:
        reason = m["reason"]
        if reason is not None and reason not in ICMP_REASONS:
            raise LabError(f"unknown ICMP reason {reason!r}", "use one of: " + ", ".join(ICMP_REASONS))
        return "rejected", reason
    if text not in allowed:
        close = difflib.get_close_matches(text, allowed, n=1)
        hint = f"did you mean {close[0]}? " if close else ""
        raise LabError(
            f"{text!r} is not an outcome of {service.proto}", hint + "expect one of: " + ", ".join(allowed)
        )
    return text, None


def run(session: MatrixSession, table: Sequence[Row]) -> list[Mismatch]:
    """Every row's probe at once; the rows whose outcome differs, each rerun alone."""
    specs = []
    for row in table:
        try:
            specs.append(session.target_spec(row.src, row.dest, row.service))
        except NslabError as exc:
            raise type(exc)(f"matrix row {row.number} ({row.cells()}): {exc.problem}", exc.fix) from None
    results, _ = session.prober.probe(specs, ())
    wrong = []
    for row, spec, raw in zip(table, specs, results, strict=True):
        if raw.get("outcome") is None:
            why = raw.get("error")
            raise ProbeError(
                f"matrix row {row.number} ({row.cells()}) did not run: {why}, so there is no verdict"
            )
        got = Outcome.from_reply(raw)
        if row.holds(got):
            continue
        (again,), evidence = session.prober.probe([spec], session.firewalls)
        second = Outcome.from_reply(again) if again.get("outcome") else got
        first = None if second == got or second.outcome == got.outcome else got
        note = session.unrouted_rejects(row.src, row.service, second, evidence)
        wrong.append(Mismatch(row, second, evidence, first, note))
    return wrong


def table(wrong: Sequence[Mismatch]) -> list[list[str]]:
    """The rows that differ: row, from, to, service, expected, got, and what decided it."""
    lines = []
    for m in wrong:
        want = f'rejected with "{m.row.reason}"' if m.row.reason else m.row.expect
        got = m.got.words() + (f" (first run: {m.first.words()})" if m.first else "")
        lines.append(
            [
                str(m.row.number),
                m.row.src,
                m.row.dest,
                m.row.service.words(),
                want,
                got,
                m.evidence.summary(lost=m.got.lost) + (f"; {m.note}" if m.note else ""),
            ]
        )
    return lines


def report(wrong: Sequence[Mismatch], total: int) -> str:
    """One table of the rows that differ: expected, got, and what decided it."""
    head = ("row", "from", "to", "service", "expected", "got", "decided by")
    lines = table(wrong)
    widths = [max(len(h), *(len(r[i]) for r in lines)) for i, h in enumerate(head)]

    def fmt(cells: Sequence[str]) -> str:
        return "| " + " | ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)) + " |"

    return f"{len(wrong)} of {total} rows differ:\n" + "\n".join([fmt(head), *(fmt(r) for r in lines)])
