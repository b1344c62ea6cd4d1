"""Given-steps that build the lab: whole provision stages, or the seed's single commands."""

from __future__ import annotations

from behave import given, when
from behave.runner import Context

from nslab.behave.skip import skip
from nslab.errors import MissingFeature
from nslab.scenario import actions
from nslab.scenario.session import LabSession


def _provision(context: Context, **stages: object) -> None:
    """The stages, or a skip naming what the target lacks for one of them (a stage's
    "# needs:"), never a failure for a missing kernel feature."""
    try:
        context.nslab.provision(**stages)
    except MissingFeature as exc:
        skip(context, str(exc))


@given("the seed lab")
@given("the lab")
def base_lab(context: Context) -> None:
    """Namespaces, veth pairs and bridges: the previous post's base lab (the networks
    stage), and the hosts' routes where the lab has them."""
    _provision(context, only=list(context.nslab.lab.base_stages))


@given("the lab is provisioned up to the {stage} stage")
def provisioned_up_to(context: Context, stage: str) -> None:
    _provision(context, upto=stage)


@given("the lab is fully provisioned")
def fully_provisioned(context: Context) -> None:
    _provision(
        context,
    )


@given("the {stage} stage has run")
@when("the {stage} stage runs")
def stage_runs(context: Context, stage: str) -> None:
    _provision(context, only=[stage])


@given("bridge traffic passes through iptables")
def bridge_netfilter(context: Context) -> None:
    """The seed story (docs/seed-story.md), section 2: bridge-nf-call-iptables=1 and ip_forward=1."""
    _provision(context, only=["sysctl"])


@given("the FORWARD policy is {policy}")
@when("the FORWARD policy is set to {policy}")
def forward_policy(context: Context, policy: str) -> None:
    """`DROP`, or `DROP over IPv6` for the host's ip6tables FORWARD policy."""
    v6 = policy.endswith(" over IPv6")
    actions.set_policy(context.nslab.w, "FORWARD", policy.removesuffix(" over IPv6"), v6=v6)


@given("chain {chain} accepts {src} to {dst}")
@when("chain {chain} accepts {src} to {dst}")
def chain_accepts(context: Context, chain: str, src: str, dst: str) -> None:
    """The seed story (docs/seed-story.md), section 3: the chain, its jump, its RETURN, then
    the ACCEPT at the top."""
    actions.accept(context.nslab.w, chain, src, dst)


@given("the rule accepting {src} to {dst} is removed from chain {chain}")
@when("the rule accepting {src} to {dst} is removed from chain {chain}")
def chain_rule_removed(context: Context, src: str, dst: str, chain: str) -> None:
    actions.remove_accept(context.nslab.w, chain, src, dst)


@given("chain {chain} accepts traffic out of the bridge")
@when("chain {chain} accepts traffic out of the bridge")
def chain_accepts_out_of_bridge(context: Context, chain: str) -> None:
    """The seed story (docs/seed-story.md), section 4: iptables -I NAVY 2 -o br0 -j ACCEPT."""
    session: LabSession = context.nslab
    actions.accept_out_of(session.w, chain, session.gateway().bridge)


@given("chain {chain} accepts traffic out of the bridge over IPv6")
@when("chain {chain} accepts traffic out of the bridge over IPv6")
def chain_accepts_out_of_bridge_v6(context: Context, chain: str) -> None:
    """The same over IPv6 (ip6tables): the rule containerlab #2389 found missing."""
    session: LabSession = context.nslab
    actions.accept_out_of_v6(session.w, chain, session.gateway().bridge)


@given("the bridge has the gateway address")
@when("the bridge gets the gateway address")
def bridge_gateway(context: Context) -> None:
    session: LabSession = context.nslab
    net = session.gateway()
    actions.add_address(session.w, str(net.gateway), net.bridge)


@given("{name} routes by default via the gateway")
@when("{name} gets a default route via the gateway")
def default_route(context: Context, name: str) -> None:
    session: LabSession = context.nslab
    host, leg = session.leg_on_gateway(name)
    gateway = session.gateway().gateway
    assert gateway is not None  # session.gateway() has one
    actions.default_route(session.w, host.name, str(gateway.ip), leg.name)


@given("the simulated internet")
def simulated_internet(context: Context) -> None:
    _provision(context, only=["upstream"])


@given("the host forwards the lab to the internet")
def forwards_lab(context: Context) -> None:
    _provision(context, only=["forward"])


@given("the host masquerades the lab")
@when("the host masquerades the lab")
def masquerades(context: Context) -> None:
    _provision(context, only=["nat"])


@given("the namespaces have a resolver on the internet")
@when("the namespaces get a resolver on the internet")
def resolver(context: Context) -> None:
    _provision(context, only=["dns"])


@given("chain {chain} accepts nothing")
@when("chain {chain} accepts nothing")
def chain_accepts_nothing(context: Context, chain: str) -> None:
    """The chain, jumped to and ending in RETURN, with no ACCEPT rule (the firewall stage's
    included): everything falls through to the FORWARD policy."""
    actions.accept_nothing(context.nslab.w, chain)


@given("bridge traffic bypasses iptables")
def bridge_bypasses(context: Context) -> None:
    actions.bridge_netfilter(context.nslab.w, on=False)
