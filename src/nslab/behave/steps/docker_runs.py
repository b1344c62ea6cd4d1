"""`When web runs "docker stop app"`: a command in a lab host's namespaces, with the
environment its Docker needs (DOCKER_HOST of that host's private daemon). The managers'
step module defines the same phrasing with the same hook (`session.docker.env`); this
one is registered only where no step of the run matches it already (`register()`, called
after every step module is imported), so the two never clash."""

from __future__ import annotations

import shlex

from behave import given, when
from behave.runner import Context
from behave.step_registry import registry

from nslab.errors import LabError, NslabError
from nslab.scenario.session import LabSession

PHRASE = '{name} runs "{command}"'
SAMPLE = 'web runs "docker stop app"'


def runs(context: Context, name: str, command: str) -> None:
    """Run in `name`'s namespace (a lab host, a container, or "the host": the world's
    root); a non-zero exit fails the step with the command's own error."""
    session: LabSession = context.nslab
    place = "host" if name == "the host" else session.namespace(name)
    try:
        argv = shlex.split(command)
    except ValueError as exc:
        raise LabError(f'"{command}" is not a command: {exc}', "close its quotes") from None
    if not argv:
        raise LabError(f"{name} runs an empty command", 'name one, e.g. "docker ps"')
    result = session.w.run(
        argv, ns=None if place == "host" else place, env=session.docker.env(place), timeout=120
    )
    session.record.result = result
    if not result.ok:
        said = result.output.strip() or "no output"
        raise NslabError(f'{name} ran "{command}": exit status {result.rc}: {said}')


def register() -> None:
    """The step, unless a module imported before already has it (the managers' one)."""
    for keyword, decorate in (("given", given), ("when", when)):
        if not any(m.match(SAMPLE) for m in registry.steps.get(keyword, [])):
            decorate(PHRASE)(runs)
