"""nslab explore, diff, changed: a lab's every flow, measured, and what a change changes."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click

from nslab.cli.common import (
    DEFINE,
    LAB,
    PORTS,
    fail,
    lab_file_of,
    load_file,
    main,
    settings_of,
)
from nslab.errors import NslabError
from nslab.lab import load_lab


@main.command()
@LAB
@PORTS
@DEFINE
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["table", "csv", "json", "markdown"]),
    default="table",
    show_default=True,
)
@click.option(
    "--record", type=click.Path(dir_okay=False), help="write the golden reachability file (for git) too"
)
def explore(lab_path: str | None, ports: str, define: tuple[str, ...], fmt: str, record: str | None) -> None:
    """Measure the lab's whole reachability: every pair of places, each family, ICMP and
    every port its rulesets match on, each flow's outcome, deciding rule and seen source."""
    from nslab.reach import flows, review
    from nslab.reach import table as reach

    folder = Path(record or ".").parent
    if not folder.is_dir():  # first: found when writing, after the whole run, it was a traceback
        fail(NslabError(f"--record {record}: no folder {folder}", "make it, or name a file in one"), 2)
    try:
        lab_file = lab_file_of(lab_path)
        lab = load_file(lab_file)
        settings = settings_of(lab_file, define)
        measured = review.measure(settings, lab, ports=flows.parse_ports(ports))
    except NslabError as exc:
        fail(exc, 2)
    _say_unread_ports(flows.unread_ports(lab))
    click.echo(reach.render(measured, fmt, flows.unroutable(lab)), nl=False)
    if record:
        own = flows.own_addresses(lab)
        Path(record).write_text(reach.record(measured, own, lab.name, flows.unroutable(lab)))
        click.echo(f"nslab: wrote {len(measured)} flows to {record}", err=True)


@main.command()
@LAB
@click.option(
    "--base", metavar="REV", help="before: the lab file and its rulesets as they were at a git revision"
)
@click.option(
    "--against", type=click.Path(dir_okay=False), help="before: another lab file (--lab's is after)"
)
@PORTS
@DEFINE
@click.option(
    "--format", "fmt", type=click.Choice(["text", "json", "markdown"]), default="text", show_default=True
)
def diff(
    lab_path: str | None, base: str | None, against: str | None, ports: str, define: tuple[str, ...], fmt: str
) -> None:
    """What does my change do? Build both labs in two worlds at once, explore the union of
    their flows, print the flows whose outcome (or NAT'd source) changed, with the rule that
    decided each side. The before side is --base REV's lab (or --against's), the after side
    the --lab file as it is now; both are named first. Exit 0: nothing changed, 1: something
    did, 2: an error."""
    from nslab.reach import flows, review
    from nslab.reach import table as reach

    try:
        if (base is None) == (against is None):
            raise NslabError("say what to compare with", "give --base REV (git) or --against OTHER.toml")
        lab_file = lab_file_of(lab_path)
        if not lab_file:
            raise NslabError(
                "nslab diff compares a lab file of yours", "give --lab FILE, or [tool.nslab] lab"
            )
        after = load_lab(lab_file)
        settings = settings_of(lab_file, define)
        with review.scratch_dir() as scratch:
            before = review.base_lab(Path(lab_file), base, Path(scratch)) if base else load_lab(str(against))
            title = f"{before.name} at {base}" if base else f"{against}"
            shown = lab_path or os.path.relpath(lab_file)
            sides = (
                f"before: {before.name} in " + (f"{shown} at {base}" if base else str(against)),
                f"after:  {after.name} in {shown}" + (" (as it is now)" if base else ""),
            )
            for line in sides:  # first, so the progress lines (each with its side) read against them
                click.echo(f"nslab: {line}", err=True)
            a, b = review.both(settings, before, after, flows.parse_ports(ports))
    except NslabError as exc:
        fail(exc, 2)
    _say_unread_ports(sorted(set(flows.unread_ports(before)) | set(flows.unread_ports(after))))
    own = review.own_of(before, after)
    changes = reach.compare(review.verdicts(a), review.verdicts(b), own)
    if fmt == "text":
        click.echo("".join(f"{line}\n" for line in sides), nl=False)
    elif fmt == "markdown":
        click.echo("".join(f"- {line.replace('  ', ' ')}\n" for line in sides) + "\n", nl=False)
    click.echo(reach.render_changes(changes, fmt, f"{title} -> {shown}", own), nl=False)
    sys.exit(1 if changes else 0)


def _say_unread_ports(lines: list[str]) -> None:
    """Where explore could not know a ruleset file's ports: said, not guessed."""
    for line in lines:
        click.echo(f"nslab: {line} (fix: name its ports under [explore] ports)", err=True)


@main.command()
@click.option("--base", metavar="REV", required=True, help="the git revision to compare with")
def changed(base: str) -> None:
    """The lab files whose file or any file they name (ruleset files and nft includes, a
    ufw or firewalld folder's files, daemon.json) differ from REV (git diff), one a line,
    for `nslab diff --lab FILE --base REV` each (the CI that nslab init writes)."""
    from nslab.reach import changed_labs

    try:
        labs, new = changed_labs.changed(Path.cwd(), base)
    except NslabError as exc:
        fail(exc, 2)
    for lab in labs:  # relative to where it runs: `nslab diff --lab` takes them as they are
        click.echo(os.path.relpath(lab))
    for lab in new:
        click.echo(f"nslab: {os.path.relpath(lab)} is new since {base}: nothing to compare", err=True)
    click.echo(f"nslab: {len(labs)} lab(s) changed since {base}", err=True)
