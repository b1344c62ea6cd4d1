"""Pings and what they prove: counts, loss, ping's own error words, who answered."""

from __future__ import annotations

from behave import then, use_step_matcher, when
from behave.runner import Context

from nslab.errors import NslabError
from nslab.probe import Ping
from nslab.session import LabSession


def _last(context: Context) -> Ping:
    ping = context.nslab.last_ping
    if ping is None:
        raise NslabError("no ping has run in this scenario", "add a step like 'When red pings blue'")
    return ping


def _show(ping: Ping) -> str:
    return f"\n$ {ping.raw.command}\n{ping.raw.output}"


use_step_matcher("re")


@when(r"(?P<src>.+?) pings (?P<dest>.+?) (?P<count>\d+) times?")
def pings_n(context: Context, src: str, dest: str, count: str) -> None:
    context.nslab.ping(src, dest, int(count))


@when(r"(?P<src>.+?) pings (?P<dest>.+)")
def pings(context: Context, src: str, dest: str) -> None:
    context.nslab.ping(src, dest)


use_step_matcher("parse")


@then("{tx:d} packets are transmitted and {rx:d} received")
def counts(context: Context, tx: int, rx: int) -> None:
    r = _last(context)
    assert (r.result.transmitted, r.result.received) == (tx, rx), (
        f"expected {tx} transmitted and {rx} received, got {r.result.transmitted} and "
        f"{r.result.received}" + _show(r)
    )


@then("{pct:d}% of packets are lost")
def loss(context: Context, pct: int) -> None:
    r = _last(context)
    assert r.result.loss_pct == pct, f"expected {pct}% loss, got {r.result.loss_pct:g}%" + _show(r)


@then('the ping reports "{text}"')
def reports(context: Context, text: str) -> None:
    r = _last(context)
    assert text in r.raw.output, f"ping did not report {text!r}" + _show(r)


@then('the ping fails with "{text}"')
def fails_with(context: Context, text: str) -> None:
    r = _last(context)
    assert r.result.received == 0, "the ping got replies" + _show(r)
    assert r.result.error is not None and text in r.result.error, (
        f"expected the error {text!r}, got {r.result.error!r}" + _show(r)
    )


@then("the replies come from {place}")
def replies_from(context: Context, place: str) -> None:
    session: LabSession = context.nslab
    r = _last(context)
    addr = str(session.address_of(place))
    assert r.result.reply_from and set(r.result.reply_from) == {addr}, (
        f"expected replies from {addr}, got {sorted(set(r.result.reply_from))}" + _show(r)
    )
