"""nslab's behave step library and hooks, for any repository.

A user's `steps/nslab_steps.py` is one line, `from nslab.behave.steps import *`, and their
`environment.py` one line too, `from nslab.behave.hooks import *`; this repository's own
steps/ and environment.py are exactly that. A custom step uses the scenario's session,
`context.nslab` (nslab.scenario.session.LabSession): `context.nslab.w.run(argv, ns="red")` runs a
command in a lab namespace, `context.nslab.lab` is the lab model, `nslab.probe.checks.ruleset(
context.nslab.w)` reads rules and counters.
"""
