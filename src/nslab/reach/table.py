"""A lab's measured reachability as people and programs read it: a grouped table for the
terminal, CSV, JSON (a public interface: scripts and CI jobs parse it) and Markdown; the
golden reachability file meant for git; and the difference of two measurements (nslab
diff, and the step "the lab's reachability matches").

A golden file has one flow a line, sorted, and says only what a change would change: the
outcome, and the source the destination saw where NAT changed it:

    pc -> the internet icmp v4 replies seen from 198.51.100.1
    pc -> web tcp/443 v6 accepted

>>> from nslab.reach.flows import Flow
>>> from nslab.reach.explore import Measured, Verdict
>>> seen = Verdict("accepted", "", "2001:db8:1::10")
>>> line(Measured(Flow("pc", "web", "tcp", 443, True), seen), {"pc": frozenset({"2001:db8:1::10"})})
'pc -> web tcp/443 v6 accepted'
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from nslab.errors import LabError
from nslab.reach.explore import ABSENT, Measured, Verdict
from nslab.reach.flows import Flow, Unroutable

FORMATS = ("table", "csv", "json", "markdown")
HEAD = ("from", "to", "service", "family", "outcome", "decided_by", "seen_from")
MORE = ("reached", "from_address", "to_address", "landed_at")  # added after the first columns, never between


def row(m: Measured) -> dict[str, str | None]:
    """A flow's JSON: its place names, service and family, the addresses it went from and
    to (`to_address`: which of the destination's), and its verdict (`reached`: the place
    that took it where a port-forward sent it on)."""
    f, v = m.flow, m.verdict
    return {
        "from": f.src, "to": f.dst, "service": f.service_words, "family": f.family, **v.as_json(),
        "from_address": v.from_address, "to_address": v.to_address or f.at or None,
    }  # fmt: skip


def render(measured: Sequence[Measured], fmt: str, unroutable: Sequence[Unroutable] = ()) -> str:
    """The flows in one of FORMATS; flows the lab cannot route at all (the internet to
    its private addresses) as one line, row or entry each family. CSV and Markdown append
    the addresses and `reached` to the first columns (a flow to each of edge's addresses is
    a row of its own)."""
    rows: list[Mapping[str, object]] = [*(row(m) for m in measured), *(u.as_row() for u in unroutable)]
    if fmt == "json":
        return json.dumps(rows, indent=2) + "\n"
    if fmt == "csv":
        out = io.StringIO()
        writer = csv.DictWriter(out, fieldnames=HEAD + MORE, lineterminator="\n", extrasaction="ignore")
        writer.writeheader()
        writer.writerows({k: v or "" for k, v in r.items()} for r in rows)
        return out.getvalue()
    if fmt == "markdown":
        lines = ["| " + " | ".join(HEAD + MORE) + " |", "|" + " --- |" * len(HEAD + MORE)]
        lines += ["| " + " | ".join(_cell(r.get(h)) for h in HEAD + MORE) + " |" for r in rows]
        return "\n".join(lines) + "\n"
    return table(measured) + "".join(f"{u.words()}\n" for u in unroutable)


def _cell(value: object) -> str:
    return str(value or "").replace("|", "\\|")


def _addresses(m: Measured) -> str:
    v = m.verdict
    return f"{v.from_address or '?'} -> {v.to_address or m.flow.at or '?'}"


def table(measured: Sequence[Measured]) -> str:
    """Grouped by source and destination, one line per service, family and address: the
    addresses the probe went from and to, and where a port-forward sent it (`at web`)."""
    out = []
    last = None
    width = max((len(f"{m.flow.service_words} {m.flow.family}") for m in measured), default=0)
    wide = max((len(_addresses(m)) for m in measured), default=0)
    for m in measured:
        pair = (m.flow.src, m.flow.dst)
        if pair != last:
            out.append(f"{m.flow.src} -> {m.flow.dst}")
            last = pair
        v = m.verdict
        seen = f" (seen from {v.seen_from})" if v.seen_from else ""
        service = f"{m.flow.service_words} {m.flow.family}".ljust(width)
        out.append(f"  {service}  {_addresses(m).ljust(wide)}  {v.words}{seen}: {v.decided_by}")
    return "\n".join(out) + "\n"


Own = Mapping[str, frozenset[str]]  # place -> its own addresses (nslab.reach.flows.own_addresses)


def nat(flow: Flow, v: Verdict, own: Own) -> str | None:
    """The source the destination saw, where it is not one of the sender's own addresses."""
    return v.seen_from if v.seen_from and v.seen_from not in own.get(flow.src, frozenset()) else None


def line(m: Measured, own: Own) -> str:
    """A golden file's line: the flow, its outcome, the place that took it where a
    port-forward sent it on, and the source the destination saw when that is not one of
    the sender's own addresses (NAT)."""
    seen = nat(m.flow, m.verdict, own)
    at = f" at {m.verdict.reached}" if m.verdict.reached else ""
    return f"{m.flow.words()} {m.verdict.outcome}{at}" + (f" seen from {seen}" if seen else "")


def record(measured: Iterable[Measured], own: Own, lab: str, unroutable: Sequence[Unroutable] = ()) -> str:
    lines = [line(m, own) for m in sorted(measured, key=lambda m: m.flow)]
    head = (
        f"# nslab explore --record: lab '{lab}'; "
        "FROM -> TO[@ADDRESS] SERVICE FAMILY OUTCOME [at PLACE] [seen from ADDRESS]\n"
    )
    tail = "".join(f"# {u.words()}\n" for u in unroutable)  # not flows: never probed
    return head + "".join(f"{x}\n" for x in lines) + tail


@dataclass(frozen=True)
class Recorded:
    flow: Flow
    outcome: str
    seen_from: str | None
    reached: str | None = None

    def verdict(self) -> Verdict:
        return Verdict(self.outcome, "", self.seen_from, reached=self.reached)


def read_record(path: Path) -> dict[Flow, Recorded]:
    """A golden reachability file; a bad line is one LabError naming the file and line."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise LabError(f"{path}: cannot read the reachability file: {exc.strerror}",
                       "write it with: nslab explore --record FILE") from None  # fmt: skip
    out = {}
    for number, raw in enumerate(text.splitlines(), 1):
        text_line = raw.strip()
        if not text_line or text_line.startswith("#"):
            continue
        rest, _, seen = text_line.partition(" seen from ")
        try:
            flow = Flow.parse(_flow_part(rest))
            outcome, _, reached = rest[len(flow.words()) :].strip().partition(" at ")
            if not outcome:
                raise LabError(f"{rest!r} has no outcome")
        except LabError as exc:
            raise LabError(
                f"{path}: line {number}: {exc.problem}", "write FROM -> TO SERVICE FAMILY OUTCOME"
            ) from None
        out[flow] = Recorded(flow, outcome, seen or None, reached.strip() or None)
    return out


def _flow_part(text: str) -> str:
    """`pc -> web tcp/443 v6 no answer` -> `pc -> web tcp/443 v6` (outcomes have spaces)."""
    for family in (" v4 ", " v6 "):
        at = text.rfind(family)
        if at != -1:
            return text[: at + 3]
    return text


@dataclass(frozen=True)
class Change:
    """A flow whose outcome (or NAT'd source, or where it landed) differs between two
    measurements."""

    flow: Flow
    before: Verdict
    after: Verdict

    def words(self, own: Own) -> str:
        def side(v: Verdict) -> str:
            seen = nat(self.flow, v, own)
            why = f" ({v.decided_by})" if v.decided_by else ""
            return f"{v.words}" + (f", seen from {seen}" if seen else "") + why

        return f"{self.flow.words()}: {side(self.before)} -> {side(self.after)}"

    def as_json(self) -> dict[str, object]:
        f = self.flow
        return {
            "from": f.src, "to": f.dst, "service": f.service_words, "family": f.family,
            "before": self.before.as_json(), "after": self.after.as_json(),
            "to_address": self.after.to_address or self.before.to_address or f.at or None,
        }  # fmt: skip


def compare(
    before: Mapping[Flow, Verdict], after: Mapping[Flow, Verdict], own: Own, landed: bool = True
) -> list[Change]:
    """Flows whose outcome changed, or whose NAT'd source did (a source the destination saw
    that is not one of the sender's own addresses), or where it landed: the place a
    port-forward sent it to, or (`landed`: both sides measured) the address a DNAT sent it
    to, e.g. a Docker publish that now sends it to a container instead of the host's own
    listener. A golden file does not record `landed_at`, so its check passes landed=False.
    A flow one side lacks is `absent` there."""
    out = []
    for flow in sorted(set(before) | set(after)):
        a, b = before.get(flow, Verdict(ABSENT)), after.get(flow, Verdict(ABSENT))
        moved = a.reached != b.reached or (landed and a.landed_at != b.landed_at)
        if a.outcome != b.outcome or nat(flow, a, own) != nat(flow, b, own) or moved:
            out.append(Change(flow, a, b))
    return out


def render_changes(changes: Sequence[Change], fmt: str, title: str, own: Own) -> str:
    """The changed flows as text, JSON (public: each with before and after) or Markdown
    (a pull-request comment); a source the destination saw is shown where it was NAT'd."""
    if fmt == "json":
        return json.dumps([c.as_json() for c in changes], indent=2) + "\n"
    if fmt == "markdown":
        if not changes:
            return f"**{title}**: no flow changed.\n"
        lines = [f"**{title}**: {len(changes)} flow(s) changed", "",
                 "| flow | before | after |", "| --- | --- | --- |"]  # fmt: skip
        for c in changes:
            cells = [c.flow.words(), *(_verdict_cell(v, nat(c.flow, v, own)) for v in (c.before, c.after))]
            lines.append("| " + " | ".join(_cell(x) for x in cells) + " |")
        return "\n".join(lines) + "\n"
    if not changes:
        return f"{title}: no flow changed\n"
    return f"{title}: {len(changes)} flow(s) changed\n" + "".join(f"  {c.words(own)}\n" for c in changes)


def _verdict_cell(v: Verdict, nat_source: str | None) -> str:
    seen = f" (seen from {nat_source})" if nat_source else ""
    return f"**{v.words}**{seen}" + (f"<br>{v.decided_by}" if v.decided_by else "")
