"""The run's HTML report: it leads with the failure.

A person opens the report to learn what failed and why, so the page says it in that
order: the run's name (project, lab, target) as its title; a summary with each failure
linked; per failure, the failing step, its expected-vs-got table (a reachability matrix's
differing rows: from, to, service, expected, got, deciding rule), the lab diagram at the
failure with the flow's source and destination marked, and the diagnostics in one section
per place, the place whose rule decided first. Skipped scenarios say why; passed ones
come last. Every step with its commands and outputs is on the steps page, linked.

Records are plain JSON beside the page, so the workers of `nslab run -j N` and the shards
of a CI matrix each write theirs and one page is made of them all (`merge`).

>>> r = Record("f", "s", "f.feature:2", "failed", message="boom")
>>> "boom" in page("nslab: p", [r])
True

"""

from __future__ import annotations

import html
import json
import os
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path

HEAD = ("from", "to", "service", "expected", "got", "decided by")
_SECTION = re.compile(r"^===== (.*?) =====$", re.M)
PROBE, COMMANDS = "the probe", "commands this scenario ran"  # the bundle's places but the namespaces


@dataclass
class Record:
    """One scenario's verdict and, for a failure, what the report shows of it."""

    feature: str
    scenario: str
    location: str
    status: str  # passed, failed or skipped
    seconds: float = 0.0
    reason: str = ""  # why it was skipped
    step: str = ""  # the failing step, as written
    message: str = ""
    table: list[list[str]] = field(default_factory=list)  # rows under HEAD
    places: list[list[object]] = field(default_factory=list)  # [place, [[title, body], ...]]
    diagram: str = ""  # SVG (or a <pre>) of the lab as it was at the failure
    steps_page: str = ""  # the page with every step, relative to the report
    step_location: str = ""  # the failing step's own file:line (location is the scenario's)
    lab: str = ""  # the lab the scenario ran on (its @lab: tag, -D lab= or the project's)


def places(bundle: str, deciding: list[str]) -> list[list[object]]:
    """The diagnostics bundle in one section per place: what the probe saw first (why it
    failed, the last ping, connection or command), then the deciding places, then the
    others, the scenario's commands last."""
    parts = _SECTION.split(bundle)
    grouped: dict[str, list[list[str]]] = {}
    for title, body in zip(parts[1::2], parts[2::2], strict=True):
        m = re.match(r"\[([^\]]+)\] (.*)", title)
        place, what = (m[1], m[2]) if m else (COMMANDS if title == COMMANDS else PROBE, title)
        grouped.setdefault(place, []).append([what, body.strip("\n")])

    def order(place: str) -> tuple[int, int]:
        if place in deciding:
            return (1, deciding.index(place))
        return {PROBE: (0, 0), COMMANDS: (3, 0)}.get(place, (2, 0))

    return [[p, grouped[p]] for p in sorted(grouped, key=order)]


_LABS = re.compile(r" · labs? [^·]*· ")


def labs_ran(records: list[Record]) -> list[str]:
    """The labs the scenarios that ran used (passed or failed), in the order first seen."""
    return list(dict.fromkeys(r.lab for r in records if r.lab and r.status != "skipped"))


def titled(title: str, records: list[Record]) -> str:
    """`title` naming the labs the scenarios ran on: a run whose features each carry their
    own `@lab:` ran on those, not on the project's lab the title was first given."""
    labs = labs_ran(records)
    if not labs or not _LABS.search(title):
        return title
    word = "lab" if len(labs) == 1 else "labs"
    return _LABS.sub(lambda _: f" · {word} {', '.join(labs)} · ", title, count=1)


def save(title: str, records: list[Record], path: Path) -> None:
    path.write_text(json.dumps({"title": title, "records": [asdict(r) for r in records]}))


def load(path: Path) -> tuple[str, list[Record]]:
    data = json.loads(path.read_text())
    return str(data["title"]), [Record(**r) for r in data["records"]]


def _rank(r: Record) -> int:
    return 1 if r.status != "skipped" else 0


def once(records: list[Record]) -> list[Record]:
    """Each scenario once: a scenario excluded by a tag is reported by every worker given
    some of its feature; the one that ran wins over a skip."""
    best: dict[str, Record] = {}
    for r in records:
        if r.location not in best or _rank(r) > _rank(best[r.location]):
            best[r.location] = r
    return list(best.values())


_STYLE = """
body{font-family:system-ui,sans-serif;margin:1.5em;max-width:90em}
h1{font-size:1.4em;margin-bottom:.2em} .summary{font-size:1.1em}
.failed h2,.count-failed{color:#b00020} .count-passed{color:#1b5e20} .count-skipped{color:#7a5b00}
section.failure{border-left:6px solid #b00020;padding:.2em 1em;margin:1em 0;background:#fff8f8}
table{border-collapse:collapse;margin:.5em 0} td,th{border:1px solid #ccc;padding:3px 8px;text-align:left}
th{background:#eee} td.got{background:#f4c7c3;font-weight:bold} td.expected{background:#d9ead3}
pre{background:#f6f6f6;padding:.5em;overflow-x:auto;white-space:pre-wrap}
details{margin:.3em 0} summary{cursor:pointer;font-weight:bold}
.diagram svg{max-width:100%;height:auto}
"""


def _e(text: object) -> str:
    return html.escape(str(text))


def _failure(n: int, r: Record) -> str:
    out = [f"<section class='failure failed' id='failure-{n}'>"]
    out.append(f"<h2>{_e(r.feature)} &gt; {_e(r.scenario)}</h2>")
    where = r.step_location or r.location  # records of an older run have no step's own line
    out.append(f"<p>failing step: <code>{_e(r.step)}</code> (<span class='where'>{_e(where)}</span>)</p>")
    if r.table:
        head = "".join(f"<th>{_e(h)}</th>" for h in HEAD)
        rows = "".join(
            "<tr>"
            + "".join(
                f"<td class='{'got' if i == 4 else 'expected' if i == 3 else ''}'>{_e(c)}</td>"
                for i, c in enumerate(row)
            )
            + "</tr>"
            for row in r.table
        )
        out.append(f"<table class='expected-got'><tr>{head}</tr>{rows}</table>")
    out.append(f"<pre class='message'>{_e(r.message)}</pre>")
    if r.diagram:
        out.append(f"<h3>The lab at the failure</h3><div class='diagram'>{r.diagram}</div>")
    if r.places:
        out.append("<h3>Diagnostics, one section per place</h3>")
        for i, (place, items) in enumerate(r.places):
            body = "".join(
                f"<h4>{_e(title)}</h4><pre>{_e(text)}</pre>"
                for title, text in items  # type: ignore[attr-defined]
            )
            opened = "open" if i < 2 else ""  # the probe and the deciding place
            out.append(f"<details class='place' {opened}><summary>{_e(place)}</summary>{body}</details>")
    if r.steps_page:
        out.append(f"<p><a href='{_e(r.steps_page)}'>every step, command and output</a></p>")
    out.append("</section>")
    return "".join(out)


def _listing(kind: str, last: str, rows: list[tuple[Record, str]]) -> str:
    body = "".join(
        f"<tr><td>{_e(r.feature)}</td><td>{_e(r.scenario)}</td><td>{_e(x)}</td></tr>" for r, x in rows
    )
    head = f"<tr><th>feature</th><th>scenario</th><th>{last}</th></tr>"
    return f"<h2>{kind.capitalize()}</h2><table id='{kind}'>{head}{body}</table>"


def page(title: str, records: list[Record], links: list[tuple[str, str]] | None = None) -> str:
    """The report as one HTML page: failures first, each linked from the summary."""
    failed = [r for r in records if r.status == "failed"]
    skipped = [r for r in records if r.status == "skipped"]
    passed = [r for r in records if r.status == "passed"]
    counts = (
        f"<span class='count-passed'>{len(passed)} passed</span>, "
        f"<span class='count-failed'>{len(failed)} failed</span>, "
        f"<span class='count-skipped'>{len(skipped)} skipped</span>"
    )
    parts = [
        f"<!doctype html><html><head><meta charset='utf-8'><title>{_e(title)}</title>"
        f"<style>{_STYLE}</style></head><body>",
        f"<h1>{_e(title)}</h1><p class='summary'>{counts}</p>",
    ]
    if failed:
        items = "".join(
            f"<li><a href='#failure-{n}'>{_e(r.feature)} &gt; {_e(r.scenario)}</a>: "
            f"{_e((r.message.strip().splitlines() or [''])[0])}</li>"
            for n, r in enumerate(failed, 1)
        )
        parts.append(f"<h2>Failures</h2><ol id='failures'>{items}</ol>")
        parts.extend(_failure(n, r) for n, r in enumerate(failed, 1))
    if skipped:
        parts.append(_listing("skipped", "why", [(r, r.reason) for r in skipped]))
    if passed:
        parts.append(_listing("passed", "time", [(r, f"{r.seconds:.2f} s") for r in passed]))
    if links:
        parts.append(
            "<p>Every step, command and output: "
            + ", ".join(f"<a href='{_e(href)}'>{_e(text)}</a>" for text, href in links)
            + "</p>"
        )
    parts.append("</body></html>\n")
    return "".join(parts)


def write(title: str, records: list[Record], out: Path, links: list[tuple[str, str]]) -> None:
    """The page at `out` and its records beside it (`out` with .json), for a later merge."""
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(page(title, records, links))
    save(title, records, out.with_suffix(".json"))


def merge(sources: list[Path], out: Path, links: list[tuple[str, str]]) -> list[Record]:
    """The records of several runs (workers, shards) as one page at `out`, records beside it;
    a scenario's page links are made relative to `out`'s folder."""
    title, records = "nslab", []
    for src in sources:
        if src.exists():
            title, found = load(src)
            rel = Path(os.path.relpath(src.parent.resolve(), out.parent.resolve()))
            for r in found:
                if r.steps_page:
                    r.steps_page = (rel / r.steps_page).as_posix()
            records.extend(found)
    records = once(records)
    write(titled(title, records), records, out, links)
    return records
