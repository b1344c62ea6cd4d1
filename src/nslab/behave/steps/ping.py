"""Pings and what they prove: counts, loss, ping's own error words, who answered."""

from __future__ import annotations

import itertools
from collections.abc import Callable

from behave import then, use_step_matcher, when
from behave.runner import Context

from nslab.errors import NslabError
from nslab.parse import PING_REFUSALS as REFUSALS
from nslab.probe.checks import Ping
from nslab.probe.ports import Connection, Service
from nslab.scenario.session import LabSession


def _last(context: Context) -> Ping:
    ping = context.nslab.record.ping
    verdict = context.nslab.record.verdict
    if isinstance(verdict, Connection) and verdict.spoofed and verdict.flow.proto == "icmp":
        # its replies went to the address claimed, not back: no loss was measured at all
        raise NslabError(
            f"the last ping was sent as {verdict.spoofed}, so its replies go there, not to "
            f"{verdict.flow.src}: no loss or reply count is measured",
            f"say whether it arrived: 'Then {verdict.flow.dst} saw pings from {verdict.spoofed}' "
            f"(or 'saw no pings from'), or ping without 'from'",
        )
    if ping is None:
        raise NslabError("no ping has run in this scenario", "add a step like 'When red pings blue'")
    return ping


def _source(context: Context) -> str | None:
    """The last probe's source: a multi-homed host answered from its address on that side."""
    flow = context.nslab.record.flow
    return flow[0] if flow else None


def _show(ping: Ping) -> str:
    return f"\nwhy: {ping.why()}\n$ {ping.raw.command}\n{ping.raw.output}"


def _measured(ping: Ping) -> None:
    """A loss figure is a verdict only if ping sent every packet it was asked to."""
    r = ping.result
    if r.transmitted == 0:
        hint = (
            f'; to claim that, write: Then the ping fails with "{r.error}"'
            if r.error_kind in REFUSALS
            else ""
        )
        raise AssertionError(f"ping sent no packets ({r.error}), so no loss was measured{hint}" + _show(ping))
    if not ping.sent_all:
        raise AssertionError(
            f"ping sent {r.transmitted} of the {ping.count} packets asked for: the loss was not measured"
            + _show(ping)
        )


use_step_matcher("re")


# Before the plain ones: behave takes the first pattern that matches.
@when(
    r"(?P<src>.+?) pings (?P<dest>.+?) with (?P<size>\d+) bytes of data(?P<df>, not fragmented)?,"
    r" from (?P<source>[0-9a-fA-F.:]*[.:][0-9a-fA-F.:]*)"
)
def pings_spoofed_sized(
    context: Context, src: str, dest: str, size: str, df: str | None, source: str
) -> None:
    """As below, one echo request of SIZE data bytes (and don't fragment): a router whose
    next link is smaller sends "fragmentation needed" to the address claimed, not to SRC
    (conntrack_icmp_related.sh's unrelated ICMP error)."""
    context.nslab.spoofed(src, dest, Service("icmp"), source, int(size), bool(df))


@when(r"(?P<src>.+?) pings (?P<dest>.+?) from (?P<source>[0-9a-fA-F.:]*[.:][0-9a-fA-F.:]*)")
def pings_spoofed(context: Context, src: str, dest: str, source: str) -> None:
    """One echo request from SRC's namespace with another source address (rpath.sh's point:
    does reverse-path filtering drop it?); its answer goes to that address, so whether it
    arrived is the destination's to say: `Then DEST saw pings from ADDRESS`."""
    context.nslab.spoofed(src, dest, Service("icmp"), source)


# A ping's modifiers, two or three in any order ("over IPv6 with 1000 bytes of data"):
# before the one-modifier steps, which would read "web over IPv6" as the destination. One
# phrasing per order, so each reads as words in nslab's step suggestions.
_MODIFIERS = {
    "v6": " over IPv6",
    "size": r" with (?P<size>\d+) bytes of data(?P<df>, not fragmented,?)?",
    "count": r" (?P<count>\d+) times?",
}


def _pings_modified(v6: bool) -> Callable[..., None]:
    def pings_modified(
        context: Context,
        src: str,
        dest: str,
        size: str | None = None,
        df: str | None = None,
        count: str = "3",
    ) -> None:
        """e.g. `pc pings web over IPv6 with 1000 bytes of data`, `pc pings web with 1000
        bytes of data, not fragmented, over IPv6 2 times`."""
        sized = None if size is None else int(size)
        context.nslab.ping(src, dest, int(count), v6=v6, size=sized, df=bool(df))

    return pings_modified


for _n in (3, 2):
    for _order in itertools.permutations(_MODIFIERS, _n):
        _pattern = r"(?P<src>.+?) pings (?P<dest>.+?)" + "".join(_MODIFIERS[m] for m in _order)
        when(_pattern)(_pings_modified("v6" in _order))


@when(r"(?P<src>.+?) pings (?P<dest>.+?) with (?P<size>\d+) bytes of data(?P<df>, not fragmented)?")
def pings_sized(context: Context, src: str, dest: str, size: str, df: str | None) -> None:
    """ping -s SIZE (and -M do: a packet too big for the path is an error, not fragments),
    e.g. 1472 bytes of data fill a 1500-byte MTU exactly over IPv4."""
    context.nslab.ping(src, dest, size=int(size), df=bool(df))


@when(r"(?P<src>.+?) pings (?P<dest>.+?) as a broadcast")
def pings_broadcast(context: Context, src: str, dest: str) -> None:
    """ping -b to a subnet's broadcast address (e.g. 10.1.0.255): every host that answers
    broadcasts (net.ipv4.icmp_echo_ignore_broadcasts = 0) replies."""
    context.nslab.ping(src, dest, broadcast=True)


@when(r"(?P<src>.+?) pings (?P<dest>.+?) over IPv6")
def pings_v6(context: Context, src: str, dest: str) -> None:
    context.nslab.ping(src, dest, v6=True)


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
    _measured(r)
    flow = context.nslab.record.flow
    if r.result.loss_pct != pct and flow is not None:  # the report's expected-vs-got table
        got = f"{r.result.loss_pct:g}% loss ({r.result.transmitted} sent, {r.result.received} received)"
        why = r.evidence.summary(lost=r.lost)
        context.nslab.record.expected_got = [[*flow, "icmp (ping)", f"{pct}% loss", got, why]]
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


@then("the replies come from {place} over IPv6")
def replies_from_v6(context: Context, place: str) -> None:
    session: LabSession = context.nslab
    r = _last(context)
    addr = str(session.address_of(place, True, _source(context)))
    assert r.result.reply_from and set(r.result.reply_from) == {addr}, (
        f"expected replies from {addr}, got {sorted(set(r.result.reply_from))}" + _show(r)
    )


@then("the replies come from {place}")
def replies_from(context: Context, place: str) -> None:
    session: LabSession = context.nslab
    r = _last(context)
    addr = str(session.address_of(place, src=_source(context)))
    assert r.result.reply_from and set(r.result.reply_from) == {addr}, (
        f"expected replies from {addr}, got {sorted(set(r.result.reply_from))}" + _show(r)
    )


@then('the verdict was decided by "{text}"')
def decided_by(context: Context, text: str) -> None:
    """Positive evidence for a verdict (the last ping or connection probe): a rule or policy
    whose counter grew during the probe and that drops (for a loss) or accepts (for an
    answer), e.g. "FORWARD policy DROP"."""
    v = _verdict(context)
    if isinstance(v, Ping) and v.result.transmitted == 0:
        raise AssertionError(f"ping sent no packets ({v.result.error}): no rule decided anything" + _show(v))
    # the rule in the user's words and file:line ("router.nft:36"), or as parsed before
    deciding = [name for d in v.evidence.deciding(lost=v.lost) for name in d.names()]
    deciding += [v.note] if v.note else []  # "r2 rejected it, but the error could not reach h1 ..."
    # a native nft chain's policy has no counter: a loss no rule counted is sent again under
    # nft's trace (nslab.probe.traced), which names it; said, with the fix, where it did not
    hint = (
        "\n(fix: an nft chain's policy keeps no counter, and nft's trace named no policy for this "
        "probe; end the chain with a `counter drop` rule, or ask `nslab explore`, which traces it)"
        if "policy" in text and not deciding
        else ""
    )
    assert any(text in d for d in deciding), (
        f"{'the loss was' if v.lost else 'the answer was'} not decided by {text!r}: "
        f"{v.evidence.summary(lost=v.lost)}\nwhy: {v.why()}{hint}"
    )


@then("no firewall rule decided the verdict")
def nothing_decided(context: Context) -> None:
    """The probe's packets met no counting rule or policy (e.g. bridged frames that bypass
    iptables): the verdict owes nothing to the firewall."""
    v = _verdict(context)
    assert not v.evidence.decisions, (
        "counters moved: " + "; ".join(d.describe() for d in v.evidence.decisions) + f"\nwhy: {v.why()}"
    )


def _verdict(context: Context) -> Ping | Connection:
    verdict = context.nslab.record.verdict
    if verdict is None:
        raise NslabError(
            "no ping or connection probe has run in this scenario",
            "add a step like 'When red pings blue' or 'When red connects to blue on tcp port 80'",
        )
    return verdict
