"""nslab init, validate, doctor: a project's files and the machine it runs on."""

from __future__ import annotations

import os
import shlex
import shutil
import sys
from pathlib import Path

import click

from nslab.cli.common import (
    fail,
    lab_file_of,
    main,
)
from nslab.config import Settings
from nslab.errors import NslabError
from nslab.lab import load_lab
from nslab.machine import doctor as doctor_mod
from nslab.machine.sysctls import KernelSysctls, check_sysctls
from nslab.machine.targets.local import LocalTarget
from nslab.machine.targets.registry import open_target
from nslab.machine.world import World


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
@click.argument("files", nargs=-1, type=click.Path(dir_okay=False))
def validate(files: tuple[str, ...]) -> None:
    """Check lab files (none given: the project's [tool.nslab] lab) and the ruleset files
    they name; exit 0 if all are valid, 2 naming the first bad field, or the file and line
    of the first rule that does not load."""
    from nslab.firewall.rulesets import check_static, raise_for
    from nslab.machine.provision import check_rulesets
    from nslab.managers.common import KINDS
    from nslab.managers.docker_session import check_backends

    if not files:  # as every other command takes the project's lab (`nslab init` sets it)
        own = lab_file_of(None)
        if not own:
            fail(NslabError("no lab file given, and no [tool.nslab] lab here", "nslab validate FILE..."), 2)
        files = (os.path.relpath(own),)

    for path in files:
        try:
            lab = load_lab(path)
            check_sysctls(lab, KernelSysctls.of(LocalTarget()), path, "local")  # validate runs here
            files_of = [(h.name, r) for h in lab.hosts for r in h.rulesets]
            files_of += [("the lab's host", r) for r in lab.host_rulesets]
            how = ""
            if files_of and os.geteuid() == 0:
                with World.start(LocalTarget()) as scratch:  # loaded for real, then thrown away
                    check_rulesets(scratch, lab)
                    check_backends(scratch, lab)  # Docker's rules in another backend than the files'
                how = f"; {len(files_of)} ruleset file(s) loaded in a throwaway world"
            elif files_of:
                for host, r in files_of:
                    found = check_static(r.kind, r.path)
                    if found is not None:
                        raise_for(host, r.kind, found)
                how = f"; {len(files_of)} ruleset file(s) checked statically (not root: as root, loaded)"
            for kind in KINDS.values():  # each manager's own checks (ufw's parser, firewalld's)
                hosts = kind.hosts(lab)
                for check in kind.checks if hosts else ():
                    how += check(hosts, path, lambda: World.start(LocalTarget()))
        except NslabError as exc:
            fail(exc, 2)
        click.echo(f"{path}: ok (lab '{lab.name}': {lab.summary()}){how}")


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
