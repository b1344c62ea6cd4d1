"""Listeners, TCP/UDP probes and their outcomes, and the reachability matrix.

The phrasings marked PUBLIC are kept word for word: users' feature files use them.
"""

from __future__ import annotations

import time

from behave import given, then, use_step_matcher, when
from behave.runner import Context

from nslab.behave.skip import skip
from nslab.errors import MissingFeature, NslabError
from nslab.probe import checks as probe
from nslab.probe import matrix
from nslab.probe.ports import ICMP_REASONS, OUTCOMES, Connection, Service, check_port, check_protocol
from nslab.scenario.session import LabSession


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


def _expect(context: Context, conn: Connection, outcome: str, icmp: str | None = None) -> None:
    got = conn.outcome
    ok = got.outcome == outcome and (icmp is None or got.icmp == icmp)
    want = f'{outcome} with "{icmp}"' if icmp else outcome
    if not ok:  # the report's expected-vs-got table
        why = conn.evidence.summary(lost=conn.lost)
        context.nslab.expected_got = [[conn.src, conn.dest, conn.service.words(), want, got.words(), why]]
    assert ok, f"{conn.describe()}: expected {want}, got {got.words()}\nwhy: {conn.why()}"


def _reason(text: str) -> str:
    if text not in ICMP_REASONS:
        raise NslabError(f"unknown ICMP reason {text!r}", "use one of: " + ", ".join(ICMP_REASONS))
    return text


use_step_matcher("re")


# PUBLIC: Given NAME listens on tcp port N / Given NAME listens on udp port N
@given(r"(?P<name>.+?) listens on (?P<proto>tcp|udp) port (?P<port>\S+)")
@when(r"(?P<name>.+?) listens on (?P<proto>tcp|udp) port (?P<port>\S+)")
def listens(context: Context, name: str, proto: str, port: str) -> None:
    context.nslab.listen(name, proto, port)


@given(r"(?P<name>.+?) listens on (?P<proto>tcp|udp) ports (?P<ports>\S+(?:, ?\S+)*)")
def listens_on_ports(context: Context, name: str, proto: str, ports: str) -> None:
    for port in ports.replace(" ", "").split(","):
        context.nslab.listen(name, proto, port)


_SPOOF = r" from (?P<source>[0-9a-fA-F.:]*[.:][0-9a-fA-F.:]*)"


@when(r"(?P<src>.+?) connects to (?P<dest>.+?) on tcp port (?P<port>\S+)" + _SPOOF)
def connects_spoofed(context: Context, src: str, dest: str, port: str, source: str) -> None:
    """A SYN from SRC's namespace with another source address: the answer goes there, so
    the verdict is what decided it and what the destination tracks (SYN_RECV)."""
    context.nslab.spoofed(src, dest, Service("tcp", check_port(port)), source)


@when(r"(?P<src>.+?) sends to (?P<dest>.+?) on udp port (?P<port>\S+)" + _SPOOF)
def sends_spoofed(context: Context, src: str, dest: str, port: str, source: str) -> None:
    """A datagram with another source address: `DEST saw a udp connection from ADDRESS`."""
    context.nslab.spoofed(src, dest, Service("udp", check_port(port)), source)


@when(r"(?P<src>.+?) connects to (?P<dest>.+?) on tcp port (?P<port>\S+) over IPv6")
def connects_v6(context: Context, src: str, dest: str, port: str) -> None:
    context.nslab.connect(src, dest, "tcp", port, v6=True)


@when(r"(?P<src>.+?) sends to (?P<dest>.+?) on udp port (?P<port>\S+) over IPv6")
def sends_v6(context: Context, src: str, dest: str, port: str) -> None:
    context.nslab.connect(src, dest, "udp", port, v6=True)


# PUBLIC: When SRC connects to DEST on tcp port N / When SRC sends to DEST on udp port N
@when(r"(?P<src>.+?) connects to (?P<dest>.+?) on tcp port (?P<port>\S+)")
def connects(context: Context, src: str, dest: str, port: str) -> None:
    context.nslab.connect(src, dest, "tcp", port)


@when(r"(?P<src>.+?) sends to (?P<dest>.+?) on udp port (?P<port>\S+)")
def sends(context: Context, src: str, dest: str, port: str) -> None:
    context.nslab.connect(src, dest, "udp", port)


# Time-aware outcomes (NetworkManager-ci style): "within" retries until the outcome holds,
# "for" probes again and again and fails at the first miss.
MAX_SECONDS = 60.0


@then(
    r"the (?P<what>connection is|datagram is|datagram gets)"
    r" (?P<outcome>accepted|refused|dropped|answered|no answer) (?P<mode>within|for) (?P<secs>[\d.]+) s"
)
def over_time(context: Context, what: str, outcome: str, mode: str, secs: str) -> None:
    proto = "tcp" if what == "connection is" else "udp"
    if outcome not in OUTCOMES[proto] or (what == "datagram gets") != (outcome == "no answer"):
        raise NslabError(f"'the {what} {outcome}' is not an outcome", "see the README's step list")
    seconds = float(secs)
    if not 0 < seconds <= MAX_SECONDS:
        raise NslabError(f"{secs} s is out of range", f"use a time from 0.1 to {MAX_SECONDS:g} s")
    session: LabSession = context.nslab
    conn = _last(context, proto)
    deadline = time.monotonic() + seconds
    tries = 1
    while True:
        holds = conn.outcome.outcome == outcome
        if mode == "within" and holds:
            return
        assert holds or mode == "within", (
            f"{conn.describe()}: {outcome} did not hold for {secs} s: try {tries} got {conn.outcome.words()}"
            f"\nwhy: {conn.why()}"
        )
        if time.monotonic() >= deadline:
            break
        time.sleep(0.05)
        conn = session.connect(conn.src, conn.dest, proto, conn.service.port)
        tries += 1
    assert mode == "for", (
        f"{conn.describe()}: not {outcome} within {secs} s ({tries} tries): last {conn.why()}"
    )


use_step_matcher("parse")


# PUBLIC: the connection is accepted | refused | dropped | rejected with "REASON"
@then("the connection is accepted")
def accepted(context: Context) -> None:
    _expect(context, _last(context, "tcp"), "accepted")


@then("the connection is refused")
def refused(context: Context) -> None:
    _expect(context, _last(context, "tcp"), "refused")


@then("the connection is dropped")
def dropped(context: Context) -> None:
    _expect(context, _last(context, "tcp"), "dropped")


@then("the connection is unreachable")
def conn_unreachable(context: Context) -> None:
    """The connection never left its namespace: no route ("Network is unreachable")."""
    _expect(context, _last(context, "tcp"), "unreachable")


@then('the connection is rejected with "{reason}"')
def conn_rejected(context: Context, reason: str) -> None:
    _expect(context, _last(context, "tcp"), "rejected", _reason(reason))


# PUBLIC: the datagram is answered | gets no answer | is rejected with "REASON"
@then("the datagram is answered")
def answered(context: Context) -> None:
    _expect(context, _last(context, "udp"), "answered")


@then("the datagram gets no answer")
def no_answer(context: Context) -> None:
    _expect(context, _last(context, "udp"), "no answer")


@then("the datagram is unreachable")
def datagram_unreachable(context: Context) -> None:
    _expect(context, _last(context, "udp"), "unreachable")


@then('the datagram is rejected with "{reason}"')
def datagram_rejected(context: Context, reason: str) -> None:
    _expect(context, _last(context, "udp"), "rejected", _reason(reason))


# Before the plain one: behave takes the first pattern that matches ("443 over IPv6" is no port).
@then("{name} saw a {proto} connection from {place} on port {port} over IPv6")
def saw_connection_v6(context: Context, name: str, proto: str, place: str, port: str) -> None:
    """As below, the place's IPv6 address only."""
    addrs = [a for a in context.nslab.addresses_of(place) if ":" in a]
    _saw(context, name, proto, place, port, addrs or [str(context.nslab.address_of(place, v6=True))])


@then("{name} saw a {proto} connection from {place} on port {port}")
def saw_connection(context: Context, name: str, proto: str, place: str, port: str) -> None:
    """The listener's own record of its peers: the source as it arrived (after any NAT),
    from the place's address in either family (a connection over IPv6 counts too)."""
    _saw(context, name, proto, place, port, context.nslab.addresses_of(place))


def _saw(context: Context, name: str, proto: str, place: str, port: str, addrs: list[str]) -> None:
    session: LabSession = context.nslab
    seen = session.seen_by(name, proto, check_port(port))
    assert set(addrs) & set(seen), (
        f"{name} saw {proto} port {port} peers {', '.join(seen) or 'none'}, not {' or '.join(addrs)}"
    )


@then("{name} is listening on {proto} port {port}")
def is_listening(context: Context, name: str, proto: str, port: str) -> None:
    """What `ss -H -tuln` shows in the namespace: independent of who made the socket."""
    session: LabSession = context.nslab
    want, number = check_protocol(proto), check_port(port)
    found = probe.listening(session.w, session.namespace(name))
    assert any(s.proto == want and s.port == number for s in found), (
        f"{name} has no {want} socket on port {number}; ss shows: "
        + (", ".join(f"{s.proto}/{s.port}" for s in found) or "none")
    )


@then("{where} tracks the connection as {state}")
def tracks(context: Context, where: str, state: str) -> None:
    """conntrack's own entry for the last probe (found by addresses and ports) has the TCP
    state (ESTABLISHED ...) or the flag (ASSURED, UNREPLIED) named."""
    session: LabSession = context.nslab
    conn = context.nslab.last_connection
    if conn is None:
        raise NslabError("no connection probe has run in this scenario", "add 'When red connects to ...'")
    try:
        session.require("conntrack")
    except MissingFeature as exc:
        skip(context, str(exc))
        return
    ns = None if where == "the host" else session.namespace(where)
    src = conn.spoofed or str(session.address_of(conn.src, v6=conn.service.v6))  # the flow's own family
    want = {
        "src": src,
        "dst": conn.address,
        "sport": str(conn.outcome.sport),
        "dport": str(conn.service.port),
    }
    found = [f for f in probe.flows(session.w, ns) if f.proto == conn.service.proto and f.original == want]
    assert found, (
        f"{where} tracks no {conn.service.proto} flow {src}:{want['sport']} -> {conn.address}:{want['dport']}"
    )
    assert any(state in (f.state, *f.flags) for f in found), (
        f"{where} tracks {conn.describe()} as {', '.join(f.describe() for f in found)}, not {state}"
    )


# PUBLIC: Then the reachability matrix holds (columns from, to, service, expect)
@then("the reachability matrix holds")
@then("the reachability matrix holds:")  # the usual colon before a table
def matrix_holds(context: Context) -> None:
    if context.table is None:
        raise NslabError("the reachability matrix needs a table", "add | from | to | service | expect | rows")
    session: LabSession = context.nslab
    cells = [list(r.cells) for r in context.table.rows]
    rows = matrix.rows(context.table.headings, cells, session.target_spec)
    wrong = matrix.run(session, rows)
    if wrong:  # the report's expected-vs-got table, and the first differing flow marked
        session.expected_got = [row[1:] for row in matrix.table(wrong)]
        session.last_flow = (wrong[0].row.src, wrong[0].row.dest)
    assert not wrong, matrix.report(wrong, len(rows))
