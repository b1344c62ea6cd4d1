"""A failed scenario's report, built in one place from what the session holds: the
scenario's record (its last ping, connection, command and verdict; nslab.scenario.record),
its world and its command log.

The after-scenario hook (nslab.behave.hooks) writes the bundle to a file, embeds it and the
diagram in the HTML report, and keeps the rest for the run's page (nslab.report.html).
"""

from __future__ import annotations

import contextlib
import html
from dataclasses import dataclass, field

from nslab.errors import NslabError
from nslab.report import diagnostics, diagram
from nslab.report import html as report
from nslab.scenario.session import LabSession


@dataclass(frozen=True)
class Failure:
    bundle: str  # the diagnostics bundle: why it failed first, then the world's state
    diagram: str  # the world as it was at the failure, as SVG (or Mermaid text, or why not)
    places: list[list[object]]  # the bundle in one section per place, the deciding ones first
    table: list[list[str]] = field(default_factory=list)  # expected vs got, where a step compared

    def for_page(self) -> dict[str, object]:
        """What the run's HTML page shows of it (nslab.report.html's failure fields)."""
        return {"table": self.table, "places": self.places, "diagram": self.diagram}


def of(session: LabSession, why: str = "") -> Failure:
    """The report of the scenario that just failed; `why`: its failing step and message."""
    bundle = why + bundle_of(session)
    record = session.record
    places = report.places(bundle, record.deciding_places())
    return Failure(bundle, live_diagram(session), places, record.expected_got)


def bundle_of(session: LabSession) -> str:
    """The diagnostics bundle: the record's last ping, connection and command, every place's
    rules, links, addresses and routes, the scenario's commands."""
    log = session.target.log.render()
    if session.world is None or not session.world.alive():
        return "(no world was running)\n" + log
    try:
        extra = session.record.sections() | session.docker.diagnostics()  # each dockerd's containers, log
        return diagnostics.collect(
            session.w, session.lab, extra=extra, command_log=log, firewalls=session.firewalls
        )
    except NslabError as exc:
        return f"(diagnostics incomplete: {exc})\n" + log


def live_diagram(session: LabSession) -> str:
    """What the world really holds, as SVG (Mermaid text without Graphviz), with the last
    flow's source and destination marked. A scenario may stop the story at any stage, so
    nothing is marked missing against the full lab file."""
    try:
        topo = diagram.live(session.w, session.lab)
        try:
            return diagram.render(session.lab, topo, "svg", marks=flow_marks(session)).decode()
        except NslabError:
            return "<pre>" + html.escape(diagram.to_mermaid(session.lab, topo)) + "</pre>"
    except NslabError as exc:
        return f"<p>no diagram: {html.escape(str(exc))}</p>"


def flow_marks(session: LabSession) -> dict[str, str]:
    """The namespaces of the last flow's ends: {namespace: "source" | "destination"}."""
    marks: dict[str, str] = {}
    if session.record.flow is None:
        return marks
    for name, role in zip(session.record.flow, ("source", "destination"), strict=True):
        # namespace() knows "the internet" (the upstream's); an address or "the gateway"
        # is no namespace and stays unmarked
        with contextlib.suppress(NslabError):
            marks.setdefault(session.namespace(name), role)
    return marks
