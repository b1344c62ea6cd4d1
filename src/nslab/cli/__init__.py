"""The `nslab` command: a manual lab in a persistent local world, validation, doctor.

nslab up                 build the seed lab (or --lab FILE) and return
nslab exec red -- ping -c 3 10.16.0.3
nslab shell red          an interactive shell inside namespace red
nslab status             what is up
nslab down               remove it all
nslab validate FILE...   check lab files (exit 2 on the first bad field)
nslab doctor             what this machine lacks, and how to get it
nslab explore / diff     every flow of a lab, measured; what a ruleset change changes
nslab changed --base REV the lab files a change touches (for diff in CI)
nslab mutate             would the scenarios notice a wrong rule? (ruleset mutation)
"""

from __future__ import annotations

import os
import shlex
import shutil
import signal
import sys
from pathlib import Path

import click

from nslab.config import Settings, find_pyproject
from nslab.errors import NslabError
from nslab.lab import Lab, default_lab, load_lab
from nslab.machine import doctor as doctor_mod
from nslab.machine.persist import LabState, exclusive
from nslab.machine.provision import provision, select
from nslab.machine.targets import open_target
from nslab.machine.targets.local import LocalTarget
from nslab.machine.world import World


def fail(exc: NslabError, code: int = 1) -> None:
    click.echo(f"nslab: {exc}", err=True)
    sys.exit(code)


_COVERAGE_MIN = click.option(
    "--rule-coverage-min",
    type=click.FloatRange(0, 100),
    default=None,
    metavar="N",
    help="fail below N% of the user's rules matched (default: [tool.nslab] rule_coverage_min, 0)",
)


def _lab_file(path: str | None) -> str:
    """The lab file a command means: --lab, else `[tool.nslab] lab` of the project (relative
    to its pyproject.toml), else "" for the seed lab."""
    if path:
        return str(Path(path).resolve())
    pyproject = find_pyproject()
    configured = Settings.from_sources({}, pyproject).lab if pyproject is not None else ""
    if not configured or pyproject is None:
        return ""
    found = Path(configured)
    return str(found if found.is_absolute() else (pyproject.parent / found).resolve())


def _load(file: str) -> Lab:
    """The lab in `file`, or the seed lab for "" (a state file's `lab` reads the same)."""
    return load_lab(file) if file else default_lab()


def _lab(path: str | None) -> Lab:
    return _load(_lab_file(path))


def _current() -> tuple[LabState, World, Lab]:
    state = LabState.load()
    if state is None:
        raise NslabError("no lab is up", "start one with `nslab up`")
    try:
        world = World.attach(LocalTarget(), state.world)
    except NslabError:
        LabState.forget()
        raise
    return state, world, _load(state.lab)  # the lab it was built from, wherever the command runs now


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="nslab")
def main() -> None:
    """nslab: prove Linux bridge, firewall and NAT setups with real namespaces."""


@main.command()
@click.argument("directory", default=".", type=click.Path(file_okay=False))
@click.option(
    "--vagrant", is_flag=True, help="also a Vagrantfile: the lab in a VM, from the installed stages"
)
def init(directory: str, vagrant: bool) -> None:
    """Put nslab in a repository: a lab, an example feature, steps, hooks, CI (no overwrites)."""
    from nslab.scaffold import init as scaffold

    try:
        written, said = scaffold(Path(directory), vagrant)
    except NslabError as exc:
        fail(exc)
    for path in written:
        click.echo(f"  wrote {path}")
    for line in said:
        click.echo(f"  {line}")
    click.echo(f"next: {next_command(Path(directory))}   (or: nslab validate labs/lab.toml)")


def next_command(directory: Path) -> str:
    """The command that runs the new project's scenarios from where the user stands: behave
    beside this nslab (a venv's bin/ is rarely on PATH), sudo unless root, cd unless here."""
    here = Path.cwd().resolve()
    target = directory.resolve()
    beside = Path(os.path.abspath(sys.executable)).parent / "behave"  # the venv's bin/, unresolved
    on_path = shutil.which("behave")
    if not beside.is_file() or (on_path and Path(on_path).resolve() == beside.resolve()):
        behave = "behave"
    else:  # relative when the venv is below where the user stands (the README's layout)
        behave = os.path.relpath(beside, target) if beside.is_relative_to(here) else str(beside)
    run = ("" if os.geteuid() == 0 else "sudo ") + f"{behave} features/"
    if target == here:
        return run
    return f"cd {shlex.quote(os.path.relpath(target, here))} && {run}"


@main.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False))
def validate(files: tuple[str, ...]) -> None:
    """Check lab files and the ruleset files they name; exit 0 if all are valid, 2 naming the
    first bad field, or the file and line of the first rule that does not load."""
    from nslab.firewall.rulesets import check_static, raise_for
    from nslab.machine.provision import check_rulesets

    for path in files:
        try:
            lab = load_lab(path)
            files_of = [(h.name, r) for h in lab.hosts for r in h.rulesets]
            files_of += [("the lab's host", r) for r in lab.host_rulesets]
            how = ""
            if files_of and os.geteuid() == 0:
                with World.start(LocalTarget()) as scratch:  # loaded for real, then thrown away
                    check_rulesets(scratch, lab)
                how = f"; {len(files_of)} ruleset file(s) loaded in a throwaway world"
            elif files_of:
                for host, r in files_of:
                    found = check_static(r.kind, r.path)
                    if found is not None:
                        raise_for(host, r.kind, found)
                how = f"; {len(files_of)} ruleset file(s) checked statically (not root: as root, loaded)"
        except NslabError as exc:
            fail(exc, 2)
        click.echo(f"{path}: ok (lab '{lab.name}': {lab.summary()}){how}")


@main.command()
@click.option(
    "--lab",
    "lab_path",
    type=click.Path(dir_okay=False),
    help="lab file (default: [tool.nslab] lab of the project, else the seed lab)",
)
@click.option("--upto", metavar="STAGE", help="stop the story after this stage (one of the lab's stages)")
@click.option(
    "--host-fs",
    type=click.Choice(["ro", "rw"]),
    default="ro",
    show_default=True,
    help="the host's files inside the lab's world: read-only, or writable for the rare lab that must",
)
def up(lab_path: str | None, upto: str | None, host_fs: str) -> None:
    """Build the lab in a persistent world on this host and return."""
    try:
        lab_file = _lab_file(lab_path)
        lab = _load(lab_file)
        chosen = [s.name for s in select(lab, upto)]  # an unknown stage lists the lab's
        with exclusive():
            state = LabState.load()
            if state is not None and World(LocalTarget(), state.world).alive():
                raise NslabError("a lab is already up", "run `nslab down` first, or use it: `nslab status`")
            target = LocalTarget()
            world = World.start(target, persistent=True, host_fs=host_fs)
            try:
                click.echo(f"nslab: building lab '{lab.name}': {', '.join(chosen)}", err=True)
                provision(world, lab, upto=upto)
            except NslabError:
                world.close()
                raise
            LabState(world.info, lab_file, chosen).save()
    except NslabError as exc:
        fail(exc)
    click.echo(
        f"lab '{lab.name}' is up: {lab.summary()}. Try: nslab exec {lab.namespace_names[0]} -- ip route"
    )


@main.command()
def down() -> None:
    """Remove the lab: its world, namespaces, links, rules and processes."""
    try:
        with exclusive():
            state = LabState.load()
            if state is None:
                click.echo("nslab: no lab is up; nothing to remove")
                return
            try:
                _, world, _ = _current()
                world.close()
                click.echo(f"lab removed (world pid {state.world.pid})")
            except NslabError:
                click.echo("nslab: the lab's world had already gone; state cleared")
            LabState.forget()
    except NslabError as exc:
        fail(exc)


def _interrupted(signum: int, frame: object) -> None:
    """SIGTERM as Ctrl-C: a KeyboardInterrupt, so finally blocks clean up."""
    raise KeyboardInterrupt


@main.command()
def status() -> None:
    """Show whether a lab is up, and its namespaces and addresses."""
    try:
        state, world, lab = _current()
    except NslabError as exc:
        fail(exc, 3)
    click.echo(f"lab '{lab.name}' is up (world pid {state.world.pid}); stages: {', '.join(state.stages)}")
    for ns in [*lab.namespace_names, lab.upstream.namespace]:
        r = world.run(["ip", "-br", "addr"], ns=ns)  # both families; link-local ones left out
        rows = [line.split() for line in r.stdout.splitlines() if not line.startswith("lo ")]
        shown = "; ".join(
            " ".join([row[0].split("@")[0], *(a for a in row[2:] if not a.startswith("fe80:"))])
            for row in rows
        )
        click.echo(f"  {ns:<8} {shown or '(not built)'}")


def _enter(ns: str, argv: list[str]) -> None:
    _, world, lab = _current()
    where = None if ns == "host" else ns
    if where is not None and where != lab.upstream.namespace:
        lab.namespace(where)  # unknown names fail listing the valid ones
    full = world.enter(argv, where)
    os.execvp(full[0], full)


@main.command()
@click.argument("namespace")
def shell(namespace: str) -> None:
    """An interactive shell in NAMESPACE ('host' for the lab's host)."""
    try:
        _enter(namespace, [os.environ.get("SHELL", "/bin/bash")])
    except NslabError as exc:
        fail(exc)


@main.command(name="exec", context_settings={"ignore_unknown_options": True})
@click.argument("namespace")
@click.argument("command", nargs=-1, required=True, type=click.UNPROCESSED)
def exec_(namespace: str, command: tuple[str, ...]) -> None:
    """Run COMMAND in NAMESPACE ('host' for the lab's host): nslab exec red -- ip route."""
    program = command[0]
    if "/" not in program and shutil.which(program) is None:  # else nsenter says it, unprefixed
        fail(NslabError(f"{program}: no such command", "install it, or give its full path"), 127)
    try:
        _enter(namespace, list(command))
    except NslabError as exc:
        fail(exc)


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
@_COVERAGE_MIN
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
@_COVERAGE_MIN
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
@click.option(
    "--lab",
    "lab_path",
    type=click.Path(dir_okay=False),
    help="lab file (default: [tool.nslab] lab of the project, else the seed lab)",
)
@click.option(
    "-o", "--output", default="lab.svg", show_default=True, help="lab.svg, lab.png, lab.mmd or lab.dot"
)
@click.option(
    "--live", is_flag=True, help="draw the running lab (nslab up) and mark what differs from its file"
)
@click.option(
    "--detail", is_flag=True, help="the plumbing: namespaces, veth pairs, bridges (--live draws it always)"
)
def diagram(lab_path: str | None, output: str, live: bool, detail: bool) -> None:
    """Draw the lab: its networks, hosts, routers, the lab's host and the internet, with
    their addresses; --detail: the namespaces, veth pairs and bridges that make it."""
    from nslab.report import diagram as dg
    from nslab.report import logical as diagram_logical

    diff = None
    try:
        if live:  # what is really there: the plumbing, against the lab file's
            _, world, lab = _current()
            topo = dg.live(world, lab)
            diff = dg.differences(dg.expected(lab), topo)
            dg.write(lab, topo, Path(output), diff)
        elif detail:
            lab = _lab(lab_path)
            dg.write(lab, dg.expected(lab), Path(output))
        else:
            diagram_logical.write(_lab(lab_path), Path(output))
    except NslabError as exc:
        fail(exc)
    click.echo(f"wrote {output}")
    if diff:
        click.echo("the running lab differs from its lab file:", err=True)
        for line in diff.lines():
            click.echo(f"  {line}", err=True)
        sys.exit(4)


def _settings(lab_file: str, define: tuple[str, ...]) -> Settings:
    """-D KEY=VALUE settings (as behave's: target=ssh, host=..., probe_wait=...) over
    [tool.nslab]; the lab file named on the command line wins."""
    userdata = {}
    for item in define:
        key, sep, value = item.partition("=")
        if not sep:
            raise NslabError(f"-D {item!r} is not KEY=VALUE", "e.g. -D target=ssh -D host=lab1")
        userdata[key] = value
    return Settings.from_sources({**userdata, "lab": lab_file}, find_pyproject())


_LAB = click.option(
    "--lab",
    "lab_path",
    type=click.Path(dir_okay=False),
    help="lab file (default: [tool.nslab] lab of the project, else the seed lab)",
)
_PORTS = click.option(
    "--ports", default="", metavar="tcp/N,udp/N", help="more ports to probe, besides the lab's"
)
_DEFINE = click.option(
    "-D", "define", multiple=True, metavar="KEY=VALUE", help="a setting, as behave -D: target=ssh"
)


@main.command()
@_LAB
@_PORTS
@_DEFINE
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

    try:
        lab_file = _lab_file(lab_path)
        lab = _load(lab_file)
        settings = _settings(lab_file, define)
        measured = review.measure(settings, lab, ports=flows.parse_ports(ports))
    except NslabError as exc:
        fail(exc, 2)
    click.echo(reach.render(measured, fmt, flows.unroutable(lab)), nl=False)
    if record:
        own = flows.own_addresses(lab)
        Path(record).write_text(reach.record(measured, own, lab.name, flows.unroutable(lab)))
        click.echo(f"nslab: wrote {len(measured)} flows to {record}", err=True)


@main.command()
@_LAB
@click.option(
    "--base", metavar="REV", help="before: the lab file and its rulesets as they were at a git revision"
)
@click.option(
    "--against", type=click.Path(dir_okay=False), help="before: another lab file (--lab's is after)"
)
@_PORTS
@_DEFINE
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
        lab_file = _lab_file(lab_path)
        if not lab_file:
            raise NslabError(
                "nslab diff compares a lab file of yours", "give --lab FILE, or [tool.nslab] lab"
            )
        after = load_lab(lab_file)
        settings = _settings(lab_file, define)
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
    own = review.own_of(before, after)
    changes = reach.compare(review.verdicts(a), review.verdicts(b), own)
    if fmt == "text":
        click.echo("".join(f"{line}\n" for line in sides), nl=False)
    elif fmt == "markdown":
        click.echo("".join(f"- {line.replace('  ', ' ')}\n" for line in sides) + "\n", nl=False)
    click.echo(reach.render_changes(changes, fmt, f"{title} -> {shown}", own), nl=False)
    sys.exit(1 if changes else 0)


@main.command()
@click.option("--base", metavar="REV", required=True, help="the git revision to compare with")
def changed(base: str) -> None:
    """The lab files whose file or ruleset files differ from REV (git diff --name-only), one
    a line, for `nslab diff --lab FILE --base REV` each (the CI that nslab init writes)."""
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


@main.command()
@_LAB
@click.option(
    "-j", "--jobs", type=click.IntRange(1, 64), default=None, help="mutants at once (default: one per CPU)"
)
@click.option("--shard", default=None, metavar="K/N", help="mutants K of N only (a CI matrix's runner)")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@click.argument("features", nargs=-1)
def mutate(
    lab_path: str | None, jobs: int | None, shard: str | None, fmt: str, features: tuple[str, ...]
) -> None:
    """Would your scenarios notice a wrong rule? Each rule of the lab's ruleset files
    deleted, its verdict turned, its ports moved by one, its address and interface
    matches negated or changed, each set or map element removed; each mutant runs, under
    the suite's settings, the scenarios that pass on the unmutated lab until one turns
    red. Prints every survivor and, last, `mutation score: K of N mutants killed`."""
    from nslab.coverage import mutate as mutate_mod
    from nslab.runner import shards

    # SIGTERM (a cancelled CI job, `timeout`) stops it as Ctrl-C does: the finally below
    # ends the running behaves and removes the scratch folder (the default just vanished)
    signal.signal(signal.SIGTERM, _interrupted)
    try:
        lab_file = _lab_file(lab_path)
        if not lab_file:
            raise NslabError(
                "nslab mutate mutates a lab file of yours", "give --lab FILE, or [tool.nslab] lab"
            )
        mutator = mutate_mod.Mutator(
            Path(lab_file), features or ("features",), jobs or os.cpu_count() or 2,
            progress=lambda line: click.echo(f"nslab: {line}", err=True),
        )  # fmt: skip
        try:
            found = mutate_mod.of_lab(mutator.lab, Path(lab_file))
            if not found:
                raise NslabError(
                    f"lab '{mutator.lab.name}' has no ruleset file to mutate",
                    'give a host firewall = { nft = "FILE" } (or iptables, ip6tables)',
                )
            if shard is not None:
                k, n = shards.parse_shard(shard)
                found = mutate_mod.shard(found, k, n)
                click.echo(f"nslab: shard {k}/{n}: {len(found)} mutants", err=True)
            results = mutator.run(found)
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


@main.command()
@click.option("--target", type=click.Choice(["local", "ssh"]), default="local", show_default=True)
@click.option("--host", default="", help="ssh: address, or the Host alias with --ssh-config")
@click.option("--port", type=int, default=22, show_default=True)
@click.option("--user", default="root", show_default=True)
@click.option("--key", default="", help="ssh: private key file")
@click.option("--known-hosts", default="", help="ssh: known_hosts file")
@click.option(
    "--host-key", type=click.Choice(["strict", "accept-new", "insecure"]), default="strict", show_default=True
)
@click.option("--ssh-config", default="", help="ssh: an OpenSSH config file (e.g. from vagrant ssh-config)")
def doctor(target: str, **ssh: object) -> None:
    """Check kernel features, tools and privileges; say what to install or enable."""

    def show(c: doctor_mod.Check) -> None:
        mark = click.style("ok  ", fg="green") if c.ok else click.style("FAIL", fg="red")
        fix = f"  -> {c.fix}" if c.fix else ""
        click.echo(f"{mark} {c.name:<28} {c.detail}{fix}")

    try:
        settings = Settings(target=target, **ssh)  # type: ignore[arg-type]
        where = open_target(settings, {})
    except NslabError as exc:
        fail(exc)
    try:
        checks = doctor_mod.run_checks(where, show)
    finally:
        where.close()
    bad = [c for c in checks if not c.ok]
    click.echo(f"{len(checks) - len(bad)} ok, {len(bad)} to fix")
    sys.exit(1 if bad else 0)


if __name__ == "__main__":  # pragma: no cover
    main()
