"""Raw commands and DNS look-ups: the blog replayed literally, and names resolved."""

from __future__ import annotations

from behave import given, then, when
from behave.runner import Context

from nslab.behave.steps.in_order import missing_in_order
from nslab.commands import Result, read_only_fix
from nslab.errors import NslabError
from nslab.probe.checks import Lookup
from nslab.scenario.session import LabSession


def _last(context: Context) -> Result:
    result = context.nslab.last_result
    if result is None:
        raise NslabError("no command has run in this scenario", "add 'When I run on the host:'")
    return result


@given("I run on the host")
@when("I run on the host")
@given("I run on the host:")  # the usual colon before a docstring
@when("I run on the host:")
def run_on_host(context: Context) -> None:
    """The docstring is typed at the seed's host prompt: the world's root namespace."""
    context.nslab.run_on_host(context.text or "")


@then("the command succeeds")
def succeeds(context: Context) -> None:
    r = _last(context)
    fix = read_only_fix(r)
    assert r.ok, f"`{r.command}` exited {r.rc}:\n{r.output}" + (f"(fix: {fix})" if fix else "")


@then('the output contains "{text}"')
def output_contains(context: Context, text: str) -> None:
    r = _last(context)
    assert text in r.output, f"the output has no {text!r}:\n{r.output}"


@then("the output shows")
@then("the output shows:")  # the usual colon before a docstring
def output_shows(context: Context) -> None:
    """Every line of the docstring appears in the output, in order; runs of blanks and tabs
    count as one space on both sides (`iptables -L` pads its columns, nft indents with tabs)."""
    r = _last(context)
    missing = missing_in_order(context.text or "", [" ".join(line.split()) for line in r.output.splitlines()])
    assert missing is None, f"the output has no line {missing!r} (in order):\n{r.output}"


@when('{name} looks up "{host}"')
def looks_up(context: Context, name: str, host: str) -> None:
    context.nslab.lookup(name, host)


def _lookup(context: Context) -> Lookup:
    lookup = context.nslab.last_lookup
    if lookup is None:
        raise NslabError(
            "no look-up has run in this scenario", "add a step like 'When red looks up \"NAME\"'"
        )
    return lookup


@then("the name resolves to {place} over IPv6")
def resolves_to_v6(context: Context, place: str) -> None:
    """The AAAA answer: the place's IPv6 address is among the name's addresses."""
    session: LabSession = context.nslab
    lk = _lookup(context)
    addr = str(session.address_of(place, v6=True))
    assert addr in lk.addresses, f"{lk.name}: expected {addr}, got {', '.join(lk.addresses) or 'not found'}"


@then("the name resolves to {place}")
def resolves_to(context: Context, place: str) -> None:
    session: LabSession = context.nslab
    lk = _lookup(context)
    addr = str(session.address_of(place))
    assert addr in lk.addresses, f"{lk.name}: expected {addr}, got {', '.join(lk.addresses) or 'not found'}"


@then("the name does not resolve")
def does_not_resolve(context: Context) -> None:
    """Only getent's "not found" counts (probe.lookup raises when it could not run)."""
    lk = _lookup(context)
    assert not lk.found, f"{lk.name} resolved to {', '.join(lk.addresses)}"
