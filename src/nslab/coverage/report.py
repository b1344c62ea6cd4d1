"""Rule coverage, reported: the line at the end of a run, `rule-coverage.json` (the public
interface, nslab.coverage.counts), a Cobertura XML in which each ruleset file is a source file
and each rule's line carries its hits (so the coverage views CI systems already have
annotate a ruleset as they annotate code), and a page per ruleset file with the hits
beside each line."""

from __future__ import annotations

import html
import os
import re
import shutil
import sys
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable
from pathlib import Path

from nslab import __version__
from nslab.coverage.counts import Coverage, FileCoverage, RuleHits
from nslab.firewall import get_kind
from nslab.managers.common import KINDS

JSON = "rule-coverage.json"
XML = "rule-coverage.xml"
PAGES = "rule-coverage"  # a folder of pages, one per ruleset file, and its index.html
NEVER_SHOWN = 3  # lines of "never matched" named in the summary before "and N more"
ELEMENTS_SHOWN = 4  # elements of one rule named in the summary before "and N more"


def percent(f: FileCoverage) -> float | None:
    """The share of its counted rules matched; None where none was counted (no rules, or
    not measured): never 0 of 0 = 100%."""
    counted = f.counted
    return 100.0 * len(f.covered) / len(counted) if counted else None


def share(f: FileCoverage) -> str:
    """`8/9 rules (89%)`, `not measured`, `no rules` (a zone file's: `elements`); the
    elements of its rules' sets and maps beside (`2/2 rules (100%), 3/6 elements`: a new
    user read "100%" beside "never matched" as a contradiction)."""
    got = percent(f)
    kind = KINDS.get(f.manager)  # a manager's own noun; Docker's and a file's are rules
    noun = kind.noun if kind is not None else "rules"
    if got is not None:
        found, of = element_share(f)
        elements = f", {found}/{of} elements" if of else ""
        return f"{len(f.covered)}/{len(f.counted)} {noun} ({got:.0f}%){elements}"
    return "not measured" if not f.measured else f"no {noun}"


def element_share(f: FileCoverage) -> tuple[int, int]:
    """(elements found, elements counted) of the set and map elements of a ruleset file's
    counted rules (a manager's file has none: its `elements` are a line's commands)."""
    if f.manager:
        return 0, 0
    counted = [v for r in f.counted for v in (r.elements or {}).values()]
    return sum(1 for v in counted if v), len(counted)


def why_not(f: FileCoverage) -> str:
    return f.note or "none of its rules could be counted"


def never_matched(f: FileCoverage) -> list[str]:
    """The rules no packet matched (`line 14 (ct state invalid counter drop)`)."""
    return [f"line {r.line} ({r.rule})" if r.line is not None else r.rule for r in f.counted if not r.hits]


def elements_never_matched(f: FileCoverage) -> list[str]:
    """Per matched rule, the elements of its set or map no packet found, as nft writes a
    set: `line 14 { 2000, 3000 }`, `line 19 @mailports { 587, 993 }` (a rule no packet
    matched is named among the rules: none of its elements was found)."""
    out = []
    for r in f.counted:
        missed = [k for k, v in (r.elements or {}).items() if not v] if r.hits else []
        if missed:
            shown = ", ".join(missed[:ELEMENTS_SHOWN])
            more = f" and {len(missed) - ELEMENTS_SHOWN} more" if len(missed) > ELEMENTS_SHOWN else ""
            out.append(f"{r.where()} {r.of + ' ' if r.of else ''}{{ {shown}{more} }}")
    return out


def _named(items: list[str]) -> str:
    """The first NEVER_SHOWN of `items`, and where the rest are (a new user read "and 2
    more" as lost)."""
    rest = len(items) - NEVER_SHOWN
    return ", ".join(items[:NEVER_SHOWN]) + (
        f" and {rest} more (all in rule-coverage.json)" if rest > 0 else ""
    )


def total(cov: Coverage) -> tuple[int, int]:
    """(rules matched, rules counted) over every file of the user's (a manager's own rules
    are not: nslab.coverage.files)."""
    files = [f for f in cov.files.values() if not f.own]
    return sum(len(f.covered) for f in files), sum(len(f.counted) for f in files)


def summary(cov: Coverage) -> list[str]:
    """`rule coverage: dmz-edge.nft 8/9 rules (89%); never matched: line 14 ...` per file."""
    out = []
    for f in sorted(cov.files.values(), key=lambda f: f.key):
        where = f"{f.place}, {f.manager}" if f.manager else f.place
        if f.own:
            out.append(own_line(f))
            continue
        if not f.measured:
            out.append(f"rule coverage: {f.file} ({where}) not measured: {why_not(f)}")
            continue
        never, missed = never_matched(f), elements_never_matched(f)
        line = f"rule coverage: {f.file} ({where}) {share(f)}"
        if never:
            line += f"; never matched: {_named(never)}"
        if missed:  # apart from the rules: "line 14, element 2000, line 14, ..." read ambiguous
            line += f"; elements never matched: {_named(missed)}"
        if f.note:
            line += f"; {f.note}"
        out.append(line)
    return out


def own_line(f: FileCoverage) -> str:
    """A manager's own rules, per chain: `rule coverage: ufw's own rules (web), not the lab
    file's (not in the percentage): ufw-before-input 3/12, INPUT policy 1/1 ...`."""
    chains: dict[str, list[int]] = {}
    for r in f.counted:
        name = re.sub(r" rule \d+", "", r.rule.split(":", 1)[0])  # `ufw-before-input in table ip6 filter`
        got = chains.setdefault(name, [0, 0])
        got[0] += 1 if r.hits else 0
        got[1] += 1
    matched = [f"{c} {n}/{m}" for c, (n, m) in chains.items() if n]
    shown = ", ".join(matched) if matched else "none matched"
    return (
        f"rule coverage: {f.manager}'s own rules ({f.place}), not the lab's, per chain "
        f"(not in the percentage): {len(f.covered)}/{len(f.counted)} rules matched: {shown}"
    )


def below(cov: Coverage, minimum: float) -> str | None:
    """One line if the run's rule coverage is under `minimum` percent, like coverage.py's
    fail_under; None when it is not. A ruleset file nslab could not count fails it: its
    coverage is unknown, not 100%."""
    hit, counted = total(cov)
    if minimum <= 0:
        return None
    unmeasured = [f for f in sorted(cov.files.values(), key=lambda f: f.key) if not f.measured and not f.own]
    if unmeasured:
        f = unmeasured[0]
        more = f" and {len(unmeasured) - 1} more file(s)" if len(unmeasured) > 1 else ""
        return (
            f"nslab: rule coverage of {f.file} ({f.place}){more} was not measured ({why_not(f)}), "
            f"so the minimum {minimum:g}% cannot be checked (fix: make its rules countable, "
            "or set rule_coverage_min=0)"
        )
    if counted == 0:
        return None
    got = 100.0 * hit / counted
    if got >= minimum:
        return None
    return (
        f"nslab: rule coverage {got:.1f}% is below the minimum {minimum:g}% "
        f"({hit} of {counted} rules matched; fix: scenarios for the rules never matched, "
        "or lower rule_coverage_min)"
    )


def cobertura(cov: Coverage) -> str:
    """Cobertura XML (coverage-04.dtd): a package per lab, a class per ruleset file, a line
    per rule, hits = packets the scenarios' traffic matched. A script's rules have no line
    to annotate: they are in the JSON and the pages, not here."""
    cov = _lined(cov)
    hit, counted = total(cov)
    root = ET.Element(
        "coverage",
        {
            "line-rate": _rate(hit, counted),
            "branch-rate": "0",
            "lines-covered": str(hit),
            "lines-valid": str(counted),
            "branches-covered": "0",
            "branches-valid": "0",
            "complexity": "0",
            "version": f"nslab {__version__}",
            "timestamp": str(int(time.time() * 1000)),
        },
    )
    sources = ET.SubElement(root, "sources")
    ET.SubElement(sources, "source").text = "."
    packages = ET.SubElement(root, "packages")
    by_lab: dict[str, list[FileCoverage]] = {}
    for f in sorted(cov.files.values(), key=lambda f: f.key):
        by_lab.setdefault(f.lab, []).append(f)
    for lab, files in by_lab.items():
        lab_hit = sum(len(f.covered) for f in files)
        lab_counted = sum(len(f.counted) for f in files)
        package = ET.SubElement(
            packages,
            "package",
            {"name": lab, "line-rate": _rate(lab_hit, lab_counted), "branch-rate": "0", "complexity": "0"},
        )
        classes = ET.SubElement(package, "classes")
        for f in files:
            cls = ET.SubElement(
                classes,
                "class",
                {
                    "name": f"{f.file} ({f.place})",
                    "filename": _filename(f),
                    "line-rate": _rate(len(f.covered), len(f.counted)),
                    "branch-rate": "0",
                    "complexity": "0",
                },
            )
            ET.SubElement(cls, "methods")
            lines = ET.SubElement(cls, "lines")
            for r in _one_per_line(f.counted):
                attrs = {"number": str(r.line), "hits": str(r.hits), "branch": "false"}
                if r.elements:  # a map's elements (a line's ufw commands) are the line's branches
                    found = sum(1 for v in r.elements.values() if v)
                    share = f"{100 * found // len(r.elements)}% ({found}/{len(r.elements)})"
                    attrs.update({"branch": "true", "condition-coverage": share})
                ET.SubElement(lines, "line", attrs)
    ET.indent(root)
    doctype = '<!DOCTYPE coverage SYSTEM "http://cobertura.sourceforge.net/xml/coverage-04.dtd">'
    return f'<?xml version="1.0" ?>\n{doctype}\n{ET.tostring(root, encoding="unicode")}\n'


def _one_per_line(rules: list[RuleHits]) -> list[RuleHits]:
    """A line per rule; where several rules share a line (a lab file's ufw commands,
    `ufw = ["default deny incoming", "allow 22/tcp"]`), one line: their hits summed, each
    rule a branch (a CI system reads a line once)."""
    by_line: dict[int | None, list[RuleHits]] = {}
    for r in rules:
        by_line.setdefault(r.line, []).append(r)
    out = []
    for n, rs in by_line.items():
        known = [r.hits for r in rs if r.hits is not None]
        hits = sum(known) if len(known) == len(rs) else None  # one unknown: the line's unknown
        out.append(rs[0] if len(rs) == 1 else RuleHits(n, "", hits, {r.rule: r.hits or 0 for r in rs}))
    return out


def _lined(cov: Coverage) -> Coverage:
    """The ruleset files whose rules have lines (not scripts) and were measured (a file
    not measured has no line to annotate: left out, not shown as covered)."""
    out = Coverage()
    out.files = {
        k: f
        for k, f in cov.files.items()
        if all(r.line is not None for r in f.rules) and f.rules and f.measured and not f.own
    }
    return out


def _rate(hit: int, counted: int) -> str:
    """Nothing counted is no coverage to show: 0, never a 1 a CI gate would pass."""
    return f"{hit / counted:.4f}" if counted else "0"


def _filename(f: FileCoverage) -> str:
    """The ruleset file as a CI system finds it: relative to the run's folder where it
    lies under it (the lab file's folder joined with the file's path otherwise)."""
    if f.path:
        try:
            return Path(f.path).resolve().relative_to(Path.cwd().resolve()).as_posix()
        except ValueError:
            return f.path
    return (Path(f.lab).parent / f.file).as_posix()


def page_name(f: FileCoverage) -> str:
    slug = re.sub(r"[^A-Za-z0-9.]+", "-", f"{f.lab}-{f.place}-{f.file}").strip("-")
    return f"{slug}.html"


_STYLE = (
    "body{font-family:system-ui,sans-serif;margin:1.5em}table{border-collapse:collapse}"
    "td{padding:0 .6em;font-family:monospace;white-space:pre}td.n{color:#888;text-align:right}"
    "tr.hit td.h{background:#d4f7d4}tr.miss td.h{background:#f9d0d0}tr.unk td.h{background:#eee}"
    "td.h{text-align:right}"
)


def _row(rule: RuleHits | None, n: int | None, text: str) -> str:
    """One line of a page: its number, the rule's hits (if a rule is on it), the text."""
    kind, hits = "", ""
    if rule is not None:
        kind = "unk" if rule.hits is None else ("hit" if rule.hits else "miss")
        hits = "?" if rule.hits is None else str(rule.hits)
    where = f' id="L{n}"' if n is not None else ""
    number = "" if n is None else str(n)
    return (
        f'<tr class="{kind}"{where}><td class="n">{number}</td><td class="h">{hits}</td>'
        f"<td>{html.escape(text)}</td></tr>"
    )


def file_page(f: FileCoverage) -> str:
    """One ruleset file, every line, with each rule's hits beside it (a script: the rules
    it made, chain by chain)."""
    if get_kind(f.kind).from_world or f.own:  # rules with no line of a file: as read
        rows = [_row(r, None, r.rule) for r in f.rules]
    else:
        try:
            text = Path(f.path).read_text(errors="replace") if f.path else ""
        except OSError:
            text = ""
        by_line = {r.line: r for r in _one_per_line(f.rules)}
        rows = []
        for n, line in enumerate(text.splitlines(), 1):
            rows.append(_row(by_line.get(n), n, line))
            rule = by_line.get(n)
            for k, hits in (rule.elements or {}).items() if rule and rule.hits is not None else ():
                rows.append(_row(RuleHits(None, "", hits), None, f"    element {k}"))
    title = f"{f.file} ({f.place}): {share(f)}"
    note = f"<p>{html.escape(f.note)}</p>" if f.note else ""
    return (
        f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
        f"<style>{_STYLE}</style></head><body><h1>{html.escape(title)}</h1>"
        f"<p>lab {html.escape(f.lab)}; hits: packets of the scenarios' own traffic "
        f"(not building, not neighbour discovery); <a href='index.html'>all ruleset files</a></p>{note}"
        f"<table>{''.join(rows)}</table></body></html>"
    )


def index_page(cov: Coverage) -> str:
    rows = "".join(
        f"<tr><td><a href='{page_name(f)}'>{html.escape(f.file)}</a></td><td>{html.escape(f.place)}</td>"
        f"<td>{html.escape(f.lab)}</td><td>{html.escape(share(f))}</td></tr>"
        for f in sorted(cov.files.values(), key=lambda f: f.key)
    )
    return (
        "<!DOCTYPE html><html><head><meta charset='utf-8'><title>nslab: rule coverage</title>"
        f"<style>{_STYLE}</style></head><body><h1>Rule coverage</h1><table>"
        "<tr><th>file</th><th>place</th><th>lab</th><th>rules matched</th></tr>"
        f"{rows}</table></body></html>"
    )


def write(cov: Coverage, reports: Path) -> list[Path]:
    """Every report of the run's rule coverage into `reports`; the files written."""
    reports.mkdir(parents=True, exist_ok=True)
    cov.save(reports / JSON)
    (reports / XML).write_text(cobertura(cov))
    pages = reports / PAGES
    pages.mkdir(exist_ok=True)
    for stale in pages.glob("*.html"):
        stale.unlink()
    for f in cov.files.values():
        (pages / page_name(f)).write_text(file_page(f))
    (pages / "index.html").write_text(index_page(cov))
    return [reports / JSON, reports / XML, pages / "index.html"]


def finish(cov: Coverage, reports: Path, minimum: float, echo: Callable[[str], None] | None = None) -> bool:
    """The end of a run (or of a merge): reports written where anything was counted (an
    earlier run's removed where nothing was), the summary said; True if below `minimum`."""
    say = echo or (lambda line: print(line, file=sys.__stderr__, flush=True))  # behave captures sys.stderr
    if not cov.files:
        for stale in (reports / JSON, reports / XML):
            stale.unlink(missing_ok=True)
        shutil.rmtree(reports / PAGES, ignore_errors=True)
        return False
    try:
        write(cov, reports)
    except OSError as exc:  # a full disk: one line, the verdicts stand
        say(f"nslab: could not write the rule coverage reports to {reports}: {exc.strerror or exc}")
    for line in summary(cov):
        say(line)
    failed = below(cov, minimum)
    if failed:
        say(failed)
    return failed is not None


def defines(extra: list[str]) -> dict[str, str]:
    """The `-D KEY=VALUE` (`--define`) settings among behave's arguments."""
    out = {}
    for i, arg in enumerate(extra):
        value = None
        if arg in ("-D", "--define") and i + 1 < len(extra):
            value = extra[i + 1]
        elif arg.startswith("-D") and len(arg) > 2:
            value = arg[2:]
        elif arg.startswith("--define="):
            value = arg.partition("=")[2]
        if value and "=" in value:
            key, _, val = value.partition("=")
            out[key] = val
    return out


def merged(
    sources: list[Path], reports: Path, extra: list[str], minimum: float | None, echo: Callable[[str], None]
) -> bool:
    """The workers' (or shards') rule coverage as one, reported into `reports`; True if
    below the minimum (the option, else -D rule_coverage_min, else [tool.nslab])."""
    from nslab.config import Settings, find_pyproject

    if minimum is None:
        minimum = Settings.from_sources(defines(extra), find_pyproject()).rule_coverage_min
    return finish(Coverage.load(sources), reports, minimum, echo)


def link(page: Path, reports: Path) -> list[tuple[str, str]]:
    """A link from the report at `page` to the rule coverage pages in `reports`, if any."""
    pages = reports / PAGES / "index.html"
    return [("rule coverage", os.path.relpath(pages, page.parent))] if pages.exists() else []
