"""Listeners, TCP/UDP probes and their outcomes, and the reachability matrix.

The phrasings marked PUBLIC are kept word for word: users' feature files use them.
"""

from __future__ import annotations

from behave import given, then, use_step_matcher, when
from behave.runner import Context

from nslab import matrix
from nslab.errors import NslabError
from nslab.ports import ICMP_REASONS, Connection, check_port
from nslab.session import LabSession


def _last(context: Context, proto: str) -> Connection:
    conn = context.nslab.last_connection
    if conn is None or conn.service.proto != proto:
        step = (
            "When red connects to blue on tcp port 80"
            if proto == "tcp"
            else "When red sends to blue on udp port 53"
        )
        raise NslabError(f"no {proto} probe has run in this scenario", f"add a step like '{step}'")
    return conn


def _expect(conn: Connection, outcome: str, icmp: str | None = None) -> None:
    got = conn.outcome
    ok = got.outcome == outcome and (icmp is None or got.icmp == icmp)
    want = f'{outcome} with "{icmp}"' if icmp else outcome
    assert ok, f"{conn.describe()}: expected {want}, got {got.words()}\nwhy: {conn.why()}"


def _reason(text: str) -> str:
    if text not in ICMP_REASONS:
        raise NslabError(f"unknown ICMP reason {text!r}", "use one of: " + ", ".join(ICMP_REASONS))
    return text


use_step_matcher("re")


# PUBLIC: Given NAME listens on tcp port N / Given NAME listens on udp port N
@given(r"(?P<name>\S+) listens on (?P<proto>tcp|udp) port (?P<port>\S+)")
@when(r"(?P<name>\S+) listens on (?P<proto>tcp|udp) port (?P<port>\S+)")
def listens(context: Context, name: str, proto: str, port: str) -> None:
    context.nslab.listen(name, proto, port)


@given(r"(?P<name>\S+) listens on (?P<proto>tcp|udp) ports (?P<ports>\S+(?:, ?\S+)*)")
def listens_on_ports(context: Context, name: str, proto: str, ports: str) -> None:
    for port in ports.replace(" ", "").split(","):
        context.nslab.listen(name, proto, port)


# PUBLIC: When SRC connects to DEST on tcp port N / When SRC sends to DEST on udp port N
@when(r"(?P<src>\S+) connects to (?P<dest>.+?) on tcp port (?P<port>\S+)")
def connects(context: Context, src: str, dest: str, port: str) -> None:
    context.nslab.connect(src, dest, "tcp", port)


@when(r"(?P<src>\S+) sends to (?P<dest>.+?) on udp port (?P<port>\S+)")
def sends(context: Context, src: str, dest: str, port: str) -> None:
    context.nslab.connect(src, dest, "udp", port)


use_step_matcher("parse")


# PUBLIC: the connection is accepted | refused | dropped | rejected with "REASON"
@then("the connection is accepted")
def accepted(context: Context) -> None:
    _expect(_last(context, "tcp"), "accepted")


@then("the connection is refused")
def refused(context: Context) -> None:
    _expect(_last(context, "tcp"), "refused")


@then("the connection is dropped")
def dropped(context: Context) -> None:
    _expect(_last(context, "tcp"), "dropped")


@then('the connection is rejected with "{reason}"')
def conn_rejected(context: Context, reason: str) -> None:
    _expect(_last(context, "tcp"), "rejected", _reason(reason))


# PUBLIC: the datagram is answered | gets no answer | is rejected with "REASON"
@then("the datagram is answered")
def answered(context: Context) -> None:
    _expect(_last(context, "udp"), "answered")


@then("the datagram gets no answer")
def no_answer(context: Context) -> None:
    _expect(_last(context, "udp"), "no answer")


@then('the datagram is rejected with "{reason}"')
def datagram_rejected(context: Context, reason: str) -> None:
    _expect(_last(context, "udp"), "rejected", _reason(reason))


@then("{name} saw a {proto} connection from {place} on port {port}")
def saw_connection(context: Context, name: str, proto: str, place: str, port: str) -> None:
    """The listener's own record of its peers: the source as it arrived (after any NAT)."""
    session: LabSession = context.nslab
    addr = str(session.address_of(place))
    seen = session.seen_by(name, proto, check_port(port))
    assert addr in seen, f"{name} saw {proto} port {port} peers {', '.join(seen) or 'none'}, not {addr}"


# PUBLIC: Then the reachability matrix holds (columns from, to, service, expect)
@then("the reachability matrix holds")
def matrix_holds(context: Context) -> None:
    if context.table is None:
        raise NslabError("the reachability matrix needs a table", "add | from | to | service | expect | rows")
    session: LabSession = context.nslab
    rows = matrix.rows(context.table.headings, [list(r.cells) for r in context.table.rows])
    wrong = matrix.run(session, rows)
    assert not wrong, matrix.report(wrong, len(rows))
