"""The scenarios a run selects: every scenario (each outline row on its own) under the
given features, as behave's own tag expression selects them, as `FILE:LINE` locations
that parallel workers and shards are given."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from behave.parser import parse_file

from nslab.errors import NslabError


@dataclass(frozen=True)
class Location:
    path: str
    line: int
    name: str
    weight: int  # steps, background included: a cost estimate

    @property
    def arg(self) -> str:
        return f"{self.path}:{self.line}"


def scenarios(paths: list[str], behave_args: list[str] | None = None) -> list[Location]:
    """Every scenario (each outline row on its own) under the given feature files or folders
    that behave's tag expression selects: the project's `default_tags` and any `-t/--tags`
    in `behave_args`, exactly as a serial `behave` run would select them."""
    files: list[Path] = []
    for p in map(Path, paths):
        if not p.exists():
            raise NslabError(f"no such feature file or folder: {p}", "give paths like features/")
        files.extend(sorted(p.rglob("*.feature")) if p.is_dir() else [p])
    tags = _tag_expression(behave_args or [])
    found = []
    for f in files:
        feature = parse_file(str(f))
        if feature is None:
            continue
        background = len(feature.background.steps) if feature.background else 0
        for sc in feature.walk_scenarios():
            if not sc.should_run_with_tags(tags):
                continue
            found.append(Location(str(f), sc.line, sc.name, background + len(sc.steps)))
    return found


def _tag_expression(behave_args: list[str]):  # type: ignore[no-untyped-def]
    """behave's tag expression for these arguments and the project's configuration."""
    from behave.configuration import Configuration

    tag_args: list[str] = []
    it = iter(behave_args)
    for arg in it:  # only the tag options: the rest may name formatters, paths, userdata
        if arg in ("-t", "--tags"):
            tag_args += [arg, next(it, "")]
        elif arg.startswith("--tags="):
            tag_args.append(arg)
    return Configuration(command_args=tag_args, load_config=True).tag_expression
