"""One exception type for everything a user can fix: it carries the problem and the fix."""

from __future__ import annotations

# The fix where a probe finds a lab namespace missing: most often a scenario (or a feature
# without its Background) that never built the lab. It names the step that builds the lab
# as a scenario needs it: 'Given the lab' alone makes the namespaces without their
# rulesets or managers, and a new user who followed that hint got wrong verdicts.
NO_LAB_FIX = (
    "build the lab with 'Given the lab is fully provisioned' (a Background step, as "
    "`nslab init`'s example has; 'Given the lab' alone makes the namespaces without their "
    "rulesets); did a step delete it?"
)


class NslabError(AssertionError):
    """A problem the user can act on; printed as one line, never as a traceback.

    It derives from AssertionError so that behave reports it in a step as a plain
    failure with this one line (behave prints tracebacks for any other exception).
    """

    def __init__(self, problem: str, fix: str = "") -> None:
        self.problem = problem
        self.fix = fix
        super().__init__(f"{problem} (fix: {fix})" if fix else problem)


class LabError(NslabError):
    """A lab file or lab value is invalid; raised before anything runs."""


class TargetError(NslabError):
    """A target cannot run what was asked: missing tool, no privileges, unreachable host."""


class ProbeError(NslabError):
    """A probe could not measure anything (missing namespace or tool, a world that is gone,
    a timeout): an error naming why, never a verdict. Carries the raw result for reports."""

    def __init__(self, problem: str, fix: str = "", result: object | None = None) -> None:
        super().__init__(problem, fix)
        self.result = result


class MissingFeature(NslabError):
    """The target lacks a kernel feature or a tool a scenario needs: the scenario skips
    with this reason (as the kernel's selftests do), it does not fail."""
