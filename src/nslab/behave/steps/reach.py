"""The lab's whole reachability against a golden file (`nslab explore --record FILE`):
every flow of the lab measured in the scenario's world, and the step fails with only the
flows that changed, appeared or disappeared, each with the rule that decided it."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from behave import then
from behave.runner import Context

from nslab.errors import LabError

if TYPE_CHECKING:
    from nslab.scenario.session import LabSession


def _golden(context: Context, name: str) -> Path:
    """FILE beside the feature, else from where behave runs."""
    beside = Path(context.feature.filename).parent / name
    for path in (beside, Path(name)):
        if path.is_file():
            return path
    raise LabError(
        f"no reachability file {name!r} beside the feature or in {Path.cwd()}",
        f"record it: nslab explore --lab LAB.toml --record {beside}",
    )


@then('the lab\'s reachability matches "{name}"')
def reachability_matches(context: Context, name: str) -> None:
    """Public phrasing: measured in this scenario's world (after the steps that built it)."""
    # imported by the step, not by every behave start (which then paid ~6 ms of CPU for
    # explore and the golden files: CPU min of 10, after the hooks' own imports)
    from nslab.coverage import counts as coverage
    from nslab.reach import flows
    from nslab.reach import table as reach
    from nslab.reach.explore import ABSENT, explore

    session: LabSession = context.nslab
    recorded = reach.read_record(_golden(context, name))
    lab = session.lab
    own = flows.own_addresses(lab)
    # the whole lab's flows are nslab's traffic, not the scenario's: no rule's hits (nslab.coverage.counts)
    with coverage.paused(session.coverage, session.w):
        measured = {m.flow: m.verdict for m in explore(session, flows.wanted(lab, recorded))}
    before = {f: r.verdict() for f, r in recorded.items()}
    changes = reach.compare(before, measured, own, landed=False)  # a golden file has no landed_at
    session.record.expected_got = [
        [c.flow.src, c.flow.dst, f"{c.flow.service_words} {c.flow.family}", c.before.outcome,
         c.after.outcome, c.after.decided_by]
        for c in changes
    ]  # fmt: skip
    if changes:
        lines = []
        for c in changes:
            if c.before.outcome == ABSENT:
                what = f"appeared: {c.after.outcome}"
            elif c.after.outcome == ABSENT:
                what = f"disappeared (was {c.before.outcome})"
            else:
                what = f"{c.before.outcome} -> {c.after.outcome}"
            nat = reach.nat(c.flow, c.after, own)
            seen = f" at {c.after.reached}" if c.after.reached else ""
            seen += f", seen from {nat}" if nat else ""
            why = f" ({c.after.decided_by})" if c.after.decided_by else ""
            lines.append(f"  {c.flow.words()}: {what}{seen}{why}")
        raise AssertionError(
            f"{len(changes)} of {len(set(before) | set(measured))} flows differ from {name}:\n"
            + "\n".join(lines)
        )
