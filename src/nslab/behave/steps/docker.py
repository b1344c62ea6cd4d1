"""Docker steps: `Given Docker runs on the host` (dockerd in the lab's host, the world's
root namespace: the seed's host gets Docker as a real host does when docker.io is
installed). Docker on a lab host comes from its lab file (`docker = {...}`)."""

from __future__ import annotations

from behave import given
from behave.runner import Context

from nslab.behave.skip import skip
from nslab.errors import MissingFeature
from nslab.scenario.session import LabSession


@given("Docker runs on the host")
def docker_on_host(context: Context) -> None:
    """dockerd with its own data root, sockets and cgroups, inside the scenario's world;
    a skip naming the package where the machine has no dockerd."""
    session: LabSession = context.nslab
    try:
        session.docker.on_host(session.w)
    except MissingFeature as exc:
        skip(context, str(exc))
