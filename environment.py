"""behave hooks: nslab's (one lab session per run, a world per scenario, diagnostics on failure).
At the top level beside steps/ (not in features/), so `behave features/` finds both."""

from nslab.behave.hooks import after_all, after_scenario, before_all, before_scenario  # noqa: F401
