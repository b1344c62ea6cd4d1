"""nslab run, report merge, mutate: scenarios in parallel, shards' reports as one, mutation."""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path

import click

from nslab.cli.common import (
    COVERAGE_MIN,
    LAB,
    fail,
    interrupted,
    lab_file_of,
    main,
    settings_of,
)
from nslab.errors import NslabError


@main.command(context_settings={"ignore_unknown_options": True})
@click.option(
    "-j",
    "--jobs",
    type=click.IntRange(1, 64),
    default=None,
    help="parallel behave workers (default: one per CPU)",
)
@click.option("--reports", default="reports", show_default=True, type=click.Path(file_okay=False))
@click.option("--shard", default=None, metavar="K/N", help="run share K of N (a CI matrix's runner)")
@click.option(
    "--timings",
    default="nslab-timings.json",
    show_default=True,
    type=click.Path(dir_okay=False),
    help="scenario timings that balance shards (kept in the repository)",
)
@click.option("--update-timings", is_flag=True, help="write this run's scenario times into --timings")
@COVERAGE_MIN
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
def run(
    jobs: int | None,
    reports: str,
    shard: str | None,
    timings: str,
    update_timings: bool,
    rule_coverage_min: float | None,
    args: tuple[str, ...],
) -> None:
    """Run scenarios in parallel: nslab run [-j N] [--shard K/N] [features/] [-- behave options]."""
    from nslab.runner import parallel, selection, shards

    paths = [a for a in args if not a.startswith("-") and (a.endswith(".feature") or Path(a).is_dir())]
    extra = [a for a in args if a not in paths and a != "--"]
    try:
        picked = shards.parse_shard(shard) if shard is not None else None
        rc = parallel.run(
            paths or ["features"],
            jobs or os.cpu_count() or 2,
            Path(reports),
            extra,
            click.echo,
            shard=picked,
            timings=Path(timings),
            coverage_min=rule_coverage_min,
        )
        if update_timings:
            held = shards.update_timings(
                Path(timings), selection.scenarios(paths or ["features"], extra), Path(reports) / "junit"
            )
            click.echo(f"nslab: {timings} holds the times of {held} scenarios")
    except NslabError as exc:
        fail(exc)
    sys.exit(rc)


@main.group()
def report() -> None:
    """Reports of several runs (the shards of a CI matrix) as one."""


@report.command("merge")
@click.argument("dirs", nargs=-1, required=True, type=click.Path(file_okay=False, exists=True))
@click.option("-o", "--output", default="reports", show_default=True, type=click.Path(file_okay=False))
@COVERAGE_MIN
def report_merge(dirs: tuple[str, ...], output: str, rule_coverage_min: float | None) -> None:
    """Merge shards' report folders: JUnit into OUTPUT/junit/TESTS-nslab.xml, an index page,
    the rule coverage into OUTPUT/rule-coverage.json (.xml, pages)."""
    from nslab.runner import shards

    try:
        merged, low = shards.merge([Path(d) for d in dirs], Path(output), rule_coverage_min)
    except NslabError as exc:
        fail(exc)
    n = merged.counts()
    click.echo(
        f"nslab: {n['passed']} passed, {n['failed']} failed, {n['skipped']} skipped; {output}/index.html"
    )
    sys.exit(1 if n["failed"] or low else 0)


@main.command()
@LAB
@click.option(
    "-j", "--jobs", type=click.IntRange(1, 64), default=None, help="mutants at once (default: one per CPU)"
)
@click.option("--shard", default=None, metavar="K/N", help="mutants K of N only (a CI matrix's runner)")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@click.option(
    "-D", "define", multiple=True, metavar="KEY=VALUE", help="a setting for the suite's runs, as behave -D"
)
@click.argument("features", nargs=-1)
def mutate(
    lab_path: str | None,
    jobs: int | None,
    shard: str | None,
    fmt: str,
    define: tuple[str, ...],
    features: tuple[str, ...],
) -> None:
    """Would your scenarios notice a wrong rule? Each rule of the lab's ruleset files
    deleted, its verdict turned, its ports moved by one, its address and interface
    matches negated or changed, each set or map element removed; a ufw or firewalld host's
    rules turned, their ports moved, zone elements removed; each mutant runs, under
    the suite's settings, the scenarios that pass on the unmutated lab until one turns
    red. Prints every survivor and, last, `mutation score: K of N mutants killed`."""
    from nslab.coverage import mutate as mutate_mod
    from nslab.runner import shards

    # SIGTERM (a cancelled CI job, `timeout`) stops it as Ctrl-C does: the finally below
    # ends the running behaves and removes the scratch folder (the default just vanished)
    signal.signal(signal.SIGTERM, interrupted)
    try:
        lab_file = lab_file_of(lab_path)
        if not lab_file:
            raise NslabError(
                "nslab mutate mutates a lab file of yours", "give --lab FILE, or [tool.nslab] lab"
            )
        settings_of(lab_file, define)  # a bad -D is one line here, not in every behave
        mutator = mutate_mod.Mutator(
            Path(lab_file), features or ("features",), jobs or os.cpu_count() or 2,
            behave_args=[arg for d in define for arg in ("-D", d)],
            progress=lambda line: click.echo(f"nslab: {line}", err=True),
        )  # fmt: skip
        try:
            found, unmade = mutate_mod.every_mutant(mutator.lab, Path(lab_file))
            if not found and not unmade:
                raise NslabError(
                    f"lab '{mutator.lab.name}' has no ruleset file or firewall manager rule to mutate",
                    'give a host firewall = { nft = "FILE" } (or iptables, ip6tables), '
                    '{ ufw = [...] } or { firewalld = "FOLDER" }',
                )
            if shard is not None:
                k, n = shards.parse_shard(shard)
                found = shards.balance(found, n)[k - 1]  # dealt round: every kind in each
                unmade = unmade if k == 1 else []  # said once, by the first shard
                click.echo(f"nslab: shard {k}/{n}: {len(found)} mutants", err=True)
            results = mutator.run(found) if found else []
            results += [mutate_mod.MutantResult.unmade(u) for u in unmade]
        finally:
            mutator.close()
    except NslabError as exc:
        fail(exc, 2)
    except KeyboardInterrupt:
        click.echo("nslab: mutate stopped; its scratch folder and worlds are gone", err=True)
        sys.exit(130)
    if fmt == "json":
        click.echo(mutate_mod.as_json(results))
        click.echo(mutate_mod.score(results), err=True)
    else:
        for line in mutate_mod.text_report(results, mutator.baseline):
            click.echo(line)
    unscored = mutate_mod.nothing_scored(results)
    if unscored is not None:
        fail(unscored, 2)
