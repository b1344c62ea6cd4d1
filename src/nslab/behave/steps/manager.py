"""A host's own commands: `When web runs "ufw deny 8080/tcp"`, `When gw runs
"firewall-cmd --reload"`. A non-zero exit fails the step with the command's own words;
`the command succeeds`, `the output contains` and `the output shows` read the result."""

from __future__ import annotations

from behave import given, when
from behave.runner import Context

from nslab.scenario.host_commands import run_on


@given('{name} runs "{command}"')
@when('{name} runs "{command}"')
def host_runs(context: Context, name: str, command: str) -> None:
    r = run_on(context.nslab, name, command)
    assert r.ok, f"`{command}` on {name} exited {r.rc}:\n{r.output.rstrip()}"
