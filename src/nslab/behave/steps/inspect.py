"""Then-steps that read the lab's state: namespaces, routes, iptables rules and counters."""

from __future__ import annotations

import ipaddress
import re

from behave import then, use_step_matcher
from behave.runner import Context

from nslab import parse
from nslab.behave.steps.in_order import missing_in_order
from nslab.errors import LabError, NslabError
from nslab.probe import checks as probe
from nslab.scenario import actions
from nslab.scenario.session import LabSession


def _names(text: str) -> list[str]:
    return [n for n in re.split(r",\s*|\s+and\s+", text.strip()) if n]


@then("ip netns show lists {names}")
def netns_lists(context: Context, names: str) -> None:
    session: LabSession = context.nslab
    listed = probe.netns_names(session.w)
    for name in _names(names):
        assert name in listed, f"'ip netns show' does not list {name}; it lists: {', '.join(listed)}"


@then('{name}\'s routes include "{line}"')
def routes_include(context: Context, name: str, line: str) -> None:
    session: LabSession = context.nslab
    v6 = ":" in line  # an IPv6 route names IPv6 addresses; interface names hold no colon
    text = probe.route_text(session.w, session.namespace(name), v6=v6)
    family = "IPv6 " if v6 else ""
    # the route as written, or written with fewer of the attributes ip prints after it
    # (IPv6 routes end in "metric 1024 pref medium", which nobody writes)
    found = any(r == line or r.startswith(line + " ") for r in text.splitlines())
    assert found, f"{name}'s {family}routes do not include {line!r}:\n{text}"


@then("{name}'s routes are exactly")
@then("{name}'s routes are exactly:")  # the usual colon before a docstring
def routes_exactly(context: Context, name: str) -> None:
    session: LabSession = context.nslab
    want = "\n".join(line.strip() for line in (context.text or "").strip().splitlines())
    ns = session.namespace(name)
    text = probe.route_text(session.w, ns)
    if ":" in want:  # IPv6 routes written too: both families, IPv4's first
        text = text.rstrip("\n") + "\n" + probe.route_text(session.w, ns, v6=True)
    assert text.strip() == want, f"{name}'s routes:\n{text}\nexpected:\n{want}"


@then("{name} has a default route")
def has_default(context: Context, name: str) -> None:
    session: LabSession = context.nslab
    routes = probe.routes(session.w, session.namespace(name))
    assert any(r.dst == "default" for r in routes), f"{name} has no default route: {routes}"


@then("{name} has no default route")
def no_default(context: Context, name: str) -> None:
    session: LabSession = context.nslab
    routes = probe.routes(session.w, session.namespace(name))
    assert all(r.dst != "default" for r in routes), f"{name} has a default route: {routes}"


@then('iptables shows "{line}"')
def iptables_shows(context: Context, line: str) -> None:
    session: LabSession = context.nslab
    text = parse.without_nslab(probe.iptables_list(session.w))  # not rule coverage's own rules
    assert line in text.splitlines(), f"'iptables -L' has no line {line!r}:\n{text}"


@then('{name}\'s ruleset shows "{line}"')
def ruleset_shows(context: Context, line: str, name: str) -> None:
    """The place's rules as its own tool lists them hold the line; runs of blanks count as
    one space (nft indents with tabs)."""
    session: LabSession = context.nslab
    text = session.ruleset_text(name)
    want = " ".join(line.split())
    # a rule as the user wrote it: nft lists "counter packets 3 bytes 252" where the file said "counter"
    listed = [_folded(got) for got in text.splitlines()]
    assert any(want in got for got in listed), f"{name}'s ruleset has no line {line!r}:\n{text}"


@then("{name}'s ruleset shows, in order")
@then("{name}'s ruleset shows, in order:")  # the usual colon before a docstring
def ruleset_shows_in_order(context: Context, name: str) -> None:
    """Every line of the docstring is in the place's listing, in that order, folded as
    above (blanks, nft's counter values); other lines may come between them."""
    session: LabSession = context.nslab
    if not (context.text or "").strip():
        raise NslabError(f"'{name}'s ruleset shows, in order' needs a docstring", 'add the lines between """')
    text = session.ruleset_text(name)
    missing = missing_in_order(context.text, [_folded(got) for got in text.splitlines()])
    assert missing is None, f"{name}'s ruleset has no line {missing!r} (in order):\n{text}"


@then("the ruleset shows, in order")
@then("the ruleset shows, in order:")  # the usual colon before a docstring
def the_ruleset_shows_in_order(context: Context) -> None:
    """The lab's one ruleset: its one host with ruleset files, or the lab's host's; a lab
    with several fails naming them (say whose: `r2's ruleset shows, in order`)."""
    lab = context.nslab.lab
    owners = [h.name for h in lab.hosts if h.rulesets] + (["the host"] if lab.host_rulesets else [])
    if len(owners) != 1:
        raise LabError(
            f"'the ruleset shows, in order' does not say whose: lab '{lab.name}' has "
            + (f"rulesets on {', '.join(owners)}" if owners else "no ruleset files"),
            f"write '{owners[0] if owners else 'the host'}'s ruleset shows, in order'",
        )
    ruleset_shows_in_order(context, owners[0])


def _folded(line: str) -> str:
    """A listed rule as the user wrote it: nft lists "counter packets 3 bytes 252" where the
    file said "counter"; runs of blanks as one space."""
    return " ".join(re.sub(r"counter packets \d+ bytes \d+", "counter", line).split())


@then("the FORWARD policy dropped at least {n:d} packets")
def policy_dropped(context: Context, n: int) -> None:
    """Positive evidence for a loss: the policy's own counter, not just silence."""
    session: LabSession = context.nslab
    chain = probe.ruleset(session.w).chain("FORWARD")
    assert chain is not None and chain.policy == "DROP", f"FORWARD policy is {chain and chain.policy}"
    assert (chain.packets or 0) >= n, f"FORWARD policy dropped {chain.packets} packets, expected >= {n}"


def _counted(context: Context, place: str, name: str) -> int:
    """An nft named counter's packets (`counter web_hits { }`, used as `counter name "web_hits"`)."""
    session: LabSession = context.nslab
    ns = None if place == "the host" else session.namespace(place)
    counters = probe.nft_counters(session.w, ns)
    if name not in counters:
        raise NslabError(
            f"{place} has no nft counter {name!r}", "use one of: " + (", ".join(counters) or "(none there)")
        )
    return counters[name]


@then("{place}'s counter {name} counted at least {n:d} packets")
def named_counter(context: Context, place: str, name: str, n: int) -> None:
    got = _counted(context, place, name)
    assert got >= n, f"{place}'s counter {name} counted {got} packets, not {n} or more"


@then("{place}'s counter {name} counted at most {n:d} packets")
def named_counter_at_most(context: Context, place: str, name: str, n: int) -> None:
    got = _counted(context, place, name)
    assert got <= n, f"{place}'s counter {name} counted {got} packets, not {n} or fewer"


@then("{place}'s counter {name} counted exactly {n:d} packets")
def named_counter_exactly(context: Context, place: str, name: str, n: int) -> None:
    got = _counted(context, place, name)
    assert got == n, f"{place}'s counter {name} counted {got} packets, not {n}"


@then("{place}'s counter {name} counted no packets")
def named_counter_none(context: Context, place: str, name: str) -> None:
    """Silence with its measurement: the counter exists (else the step fails naming the
    counters there) and read 0."""
    got = _counted(context, place, name)
    assert got == 0, f"{place}'s counter {name} counted {got} packets, not none"


@then("chain {chain} accepted at least {n:d} packets from {src} to {dst}")
def chain_accepted(context: Context, chain: str, n: int, src: str, dst: str) -> None:
    session: LabSession = context.nslab
    rules = actions.require_chain(session.w, chain).rules
    for rule in rules:
        if rule.target == "ACCEPT" and f"-s {src}" in rule.spec and f"-d {dst}" in rule.spec:
            assert (rule.packets or 0) >= n, f"rule '{rule.spec}' counted {rule.packets} packets"
            return
    raise AssertionError(
        f"chain {chain} has no rule accepting {src} to {dst}: " + "; ".join(r.spec for r in rules)
    )


@then("chain {chain} holds, in order")
@then("chain {chain} holds, in order:")  # the usual colon before a table
def chain_order(context: Context, chain: str) -> None:
    """The lab's host's chain, where that is the only place it can mean: a lab whose
    hosts hold rules of their own must say whose (`edge's chain INPUT holds, in order`)."""
    session: LabSession = context.nslab
    lab = session.lab
    ruled = [h.name for h in lab.hosts if h.rulesets or h.router]
    if lab.firewall is None and lab.gateway_network is None and ruled:
        own = "has rules of its own" if len(ruled) == 1 else "have rules of their own"
        raise LabError(
            f"'chain {chain} holds, in order' does not say whose chain: in lab '{lab.name}' "
            f"{', '.join(ruled)} {own}",
            f"write '{ruled[0]}'s chain {chain} holds, in order' ('the host's chain ...': the lab's host)",
        )
    _chain_order(context, chain, None, "the host")


@then("{name}'s chain {chain} holds, in order")
@then("{name}'s chain {chain} holds, in order:")  # the usual colon before a table
def named_chain_order(context: Context, name: str, chain: str) -> None:
    """A host's own chain in its filter table (iptables-save in its namespace); "the host"
    is the lab's host."""
    session: LabSession = context.nslab
    if name == "the host":
        _chain_order(context, chain, None, name)
        return
    host = session.lab.namespace(name)
    if session.lab.firewall_tool(host) == "nft":
        raise LabError(
            f"{name}'s rules are native nft, which has no iptables chain {chain}",
            f"read them with '{name}'s ruleset shows \"...\"' or '{name}'s ruleset shows, in order'",
        )
    _chain_order(context, chain, host.name, name)


def _chain_order(context: Context, chain: str, ns: str | None, where: str) -> None:
    session: LabSession = context.nslab
    if context.table is None:
        raise NslabError(f"'chain {chain} holds, in order' needs a table", "add | rule | rows, one per rule")
    rules = [r.spec for r in actions.require_chain(session.w, chain, ns=ns).rules]
    want = [row["rule"] for row in context.table]
    whose = "" if where == "the host" else f"{where}'s "
    assert rules == want, f"{whose}chain {chain} holds:\n  " + "\n  ".join(rules)


use_step_matcher("re")


# "the internet saw pings" reads the internet's own record (below); any other host, its
# echo requests as the probe helper saw them arrive (a spoofed ping's proof of arrival)
@then(r"(?P<name>(?!the internet saw ).+?) saw pings from (?P<place>.+)")
def host_saw_pings(context: Context, name: str, place: str) -> None:
    session: LabSession = context.nslab
    addrs, seen = session.addresses_of(place), session.seen_pings(name)
    assert set(addrs) & set(seen), f"{name} saw pings from {', '.join(seen) or 'nobody'}, not from " + (
        " or ".join(addrs)
    )


@then(r"(?P<name>(?!the internet saw ).+?) saw no pings from (?P<place>.+)")
def host_saw_no_pings(context: Context, name: str, place: str) -> None:
    session: LabSession = context.nslab
    addrs, seen = session.addresses_of(place), session.seen_pings(name)
    assert not set(addrs) & set(seen), f"{name} saw pings from {' and '.join(set(addrs) & set(seen))}"


use_step_matcher("parse")


@then("the internet saw pings from {place}")
def internet_saw(context: Context, place: str) -> None:
    session: LabSession = context.nslab
    addrs = session.addresses_of(place)
    seen = session.seen_by_the_internet()
    assert set(addrs) & set(seen), f"the internet saw pings from {', '.join(seen) or 'nobody'}, not from " + (
        " or ".join(addrs)
    )


@then("the internet saw no pings from {place}")
def internet_not_saw(context: Context, place: str) -> None:
    """Every family's address of the place: a ping over IPv6 counts as much as one over IPv4
    (checking the IPv4 address alone passed after an IPv6 ping had arrived)."""
    session: LabSession = context.nslab
    seen = session.seen_by_the_internet()
    got = [a for a in session.addresses_of(place) if a in seen]
    assert not got, f"the internet saw pings from {' and '.join(got)}"


@then("{key} is {value} on the host")
def sysctl_is(context: Context, key: str, value: str) -> None:
    _sysctl_is(context, key, value, None, "the host")


use_step_matcher("re")


# net.* only: "{key} is {value} on {name}" would also read "blue is listening on tcp ...".
@then(r"(?P<key>net\.[a-z0-9_.-]+) is (?P<value>\S+) on (?P<name>(?!the host\Z).+)")
def sysctl_is_on(context: Context, key: str, value: str, name: str) -> None:
    """A lab namespace's own sysctl (rp_filter, accept_redirects, forwarding)."""
    _sysctl_is(context, key, value, context.nslab.namespace(name), name)


def _sysctl_is(context: Context, key: str, value: str, ns: str | None, where: str) -> None:
    session: LabSession = context.nslab
    if not re.fullmatch(r"net\.[a-z0-9_.-]+", key):
        raise LabError(f"{key!r} is not a network sysctl", "e.g. net.ipv4.ip_forward")
    got = probe.sysctl(session.w, key, ns)
    assert got == value, f"{key} = {got} on {where}, expected {value}"


use_step_matcher("parse")


@then("{place} is at {address}")
def place_is_at(context: Context, place: str, address: str) -> None:
    assert context.nslab.address_of(place) == ipaddress.IPv4Address(address)
