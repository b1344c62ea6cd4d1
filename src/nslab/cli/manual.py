"""A manual lab in a persistent local world: nslab up, down, status, shell, exec, diagram."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import click

from nslab.cli.common import (
    current,
    fail,
    lab_file_of,
    lab_of,
    load_file,
    main,
)
from nslab.errors import NslabError
from nslab.firewall import sources
from nslab.machine.persist import LabState, exclusive
from nslab.machine.provision import provision, select
from nslab.machine.sysctls import KernelSysctls, check_sysctls
from nslab.machine.targets.local import LocalTarget
from nslab.machine.world import World
from nslab.managers.common import host_argv
from nslab.managers.docker import docker_env
from nslab.managers.docker_session import DockerRun, containers, docker_hosts


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
        lab_file = lab_file_of(lab_path)
        lab = load_file(lab_file)
        chosen = [s.name for s in select(lab, upto)]  # an unknown stage lists the lab's
        with exclusive():
            state = LabState.load()
            if state is not None and World(LocalTarget(), state.world).alive():
                raise NslabError("a lab is already up", "run `nslab down` first, or use it: `nslab status`")
            target = LocalTarget()
            check_sysctls(lab, KernelSysctls.of(target), lab_file or "the seed lab", target.name)
            world = World.start(target, persistent=True, host_fs=host_fs)
            try:
                click.echo(f"nslab: building lab '{lab.name}': {', '.join(chosen)}", err=True)
                provision(world, lab, upto=upto)
                DockerRun().after_provision(world, lab, chosen, sources.of_lab(lab), detach=True)
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
                _, world, _ = current()
                world.close()
                click.echo(f"lab removed (world pid {state.world.pid})")
            except NslabError:
                click.echo("nslab: the lab's world had already gone; state cleared")
            LabState.forget()
    except NslabError as exc:
        fail(exc)


@main.command()
def status() -> None:
    """Show whether a lab is up, and its namespaces and addresses."""
    try:
        state, world, lab = current()
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
    _, world, lab = current()
    where = None if ns == "host" else ns
    host = None
    if where is not None and where != lab.upstream.namespace and where not in containers(lab):
        host = lab.namespace(where)  # unknown names fail listing the valid ones
    if where in docker_hosts(lab):
        os.environ.update(docker_env(where))  # `docker ...` there talks to that host's own dockerd
    if host is not None and host.manager is not None:  # its own /etc/ufw or firewalld's bus
        full = world.enter(host_argv(lab, host, argv))
    else:
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
            _, world, lab = current()
            topo = dg.live(world, lab)
            diff = dg.differences(dg.expected(lab), topo)
            dg.write(lab, topo, Path(output), diff)
        elif detail:
            lab = lab_of(lab_path)
            dg.write(lab, dg.expected(lab), Path(output))
        else:
            diagram_logical.write(lab_of(lab_path), Path(output))
    except NslabError as exc:
        fail(exc)
    click.echo(f"wrote {output}")
    if diff:
        click.echo("the running lab differs from its lab file:", err=True)
        for line in diff.lines():
            click.echo(f"  {line}", err=True)
        sys.exit(4)
