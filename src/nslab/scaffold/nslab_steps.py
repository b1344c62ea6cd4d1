"""nslab's steps, and a custom step of your own on its session API."""

from behave import then

from nslab import probe
from nslab.behave.steps import *  # noqa: F403


@then("{name} has an address on {network}")
def has_address_on(context, name, network):  # type: ignore[no-untyped-def]
    """A custom step: the lab model (context.nslab.lab) and a command in a namespace."""
    session = context.nslab
    net = session.lab.network(network)
    routes = probe.routes(session.w, session.namespace(name))
    assert any(r.dst == str(net.subnet) for r in routes), f"{name} has no route to {net.subnet}"
