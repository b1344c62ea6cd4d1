"""The `nslab` group, and what its commands share: the lab a command means (--lab, else
[tool.nslab] lab, else the seed lab), the running lab, -D settings, common options."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from nslab.config import Settings, find_pyproject
from nslab.errors import NslabError
from nslab.lab import Lab, default_lab, load_lab
from nslab.machine.persist import LabState
from nslab.machine.targets.local import LocalTarget
from nslab.machine.world import World


def fail(exc: NslabError, code: int = 1) -> None:
    click.echo(f"nslab: {exc}", err=True)
    sys.exit(code)


COVERAGE_MIN = click.option(
    "--rule-coverage-min",
    type=click.FloatRange(0, 100),
    default=None,
    metavar="N",
    help="fail below N% of the user's rules matched (default: [tool.nslab] rule_coverage_min, 0)",
)


def lab_file_of(path: str | None) -> str:
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


def load_file(file: str) -> Lab:
    """The lab in `file`, or the seed lab for "" (a state file's `lab` reads the same)."""
    return load_lab(file) if file else default_lab()


def lab_of(path: str | None) -> Lab:
    return load_file(lab_file_of(path))


def current() -> tuple[LabState, World, Lab]:
    state = LabState.load()
    if state is None:
        raise NslabError("no lab is up", "start one with `nslab up`")
    try:
        world = World.attach(LocalTarget(), state.world)
    except NslabError:
        LabState.forget()
        raise
    return state, world, load_file(state.lab)  # the lab it was built from, wherever the command runs now


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="nslab")
def main() -> None:
    """nslab: prove Linux bridge, firewall and NAT setups with real namespaces."""


def interrupted(signum: int, frame: object) -> None:
    """SIGTERM as Ctrl-C: a KeyboardInterrupt, so finally blocks clean up."""
    raise KeyboardInterrupt


def settings_of(lab_file: str, define: tuple[str, ...]) -> Settings:
    """-D KEY=VALUE settings (as behave's: target=ssh, host=..., probe_wait=...) over
    [tool.nslab]; the lab file named on the command line wins."""
    userdata = {}
    for item in define:
        key, sep, value = item.partition("=")
        if not sep:
            raise NslabError(f"-D {item!r} is not KEY=VALUE", "e.g. -D target=ssh -D host=lab1")
        userdata[key] = value
    return Settings.from_sources({**userdata, "lab": lab_file}, find_pyproject())


LAB = click.option(
    "--lab",
    "lab_path",
    type=click.Path(dir_okay=False),
    help="lab file (default: [tool.nslab] lab of the project, else the seed lab)",
)


PORTS = click.option(
    "--ports", default="", metavar="tcp/N,udp/N", help="more ports to probe, besides the lab's"
)


DEFINE = click.option(
    "-D", "define", multiple=True, metavar="KEY=VALUE", help="a setting, as behave -D: target=ssh"
)
