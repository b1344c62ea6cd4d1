"""The README's "First hour" walk-through, run as written: its commands (the ```console
blocks' `$ ` lines) and its edits (the ```diff blocks, made with `git apply`), in order,
in an empty folder, with this venv's nslab and behave. Every output line the README shows
under a command must be among the lines that command printed (`...` stands for anything:
a whole line of it for lines left out), and its exit status the one its `# exit status N`
comment gives (else 0). So the README and what a new user sees cannot drift apart.
Everything happens in the test's temporary folder and in nslab's worlds: the root
namespace is checked unchanged."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from conftest import ROOT, host_snapshot, needs_netns

HEADING = "## First hour"
BIN = Path(sys.executable).parent  # this venv's nslab and behave
RUNS = ("nslab", "behave", "git", "mkdir")  # what the section may run ("cd" moves the test)
TIMEOUT = 600.0  # seconds for one command: nslab mutate, on 2 busy cores
FENCE = re.compile(r"^```(\w*)[^\n]*\n(.*?)^```\s*$", re.M | re.S)
STATUS = re.compile(r"#.*\bexit status (\d+)")
# the lines the walk-through exists to show: each must be among the README's shown lines
# of that command (and so, checked below, among what the command really printed)
KEY = (
    ("nslab explore", re.compile(r"tcp/8080 v4 +10\.1\.0\.20 -> 10\.1\.0\.80 +accepted .*web\.nft:\d+$")),
    ("nslab diff", re.compile(r"^\S+ at main -> labs/lab\.toml: 1 flow\(s\) changed$")),
    ("behave", re.compile(r"^rule coverage: web\.nft \(web\) \d+/\d+ rules \(\d+%\)")),
    ("nslab mutate", re.compile(r"^mutation score: \d+ of \d+ mutants killed$")),
)


@dataclass
class Command:
    argv: list[str]
    status: int
    shown: list[str] = field(default_factory=list)  # the output lines the README shows

    @property
    def words(self) -> str:
        return shlex.join(self.argv)


@dataclass
class Edit:
    diff: str


def section(readme: str) -> str:
    """The walk-through: from its heading to the next heading of its level or above (a
    `# ` line inside a code block is no heading)."""
    lines = readme.splitlines(keepends=True)
    start = next((n for n, x in enumerate(lines) if x.startswith(HEADING)), None)
    assert start is not None, f"README.md has no section starting {HEADING!r}"
    fenced = False
    for n in range(start + 1, len(lines)):
        fenced ^= lines[n].startswith("```")
        if not fenced and re.match(r"#{1,2} ", lines[n]):
            return "".join(lines[start:n])
    return "".join(lines[start:])


def steps(text: str) -> list[Command | Edit]:
    """The section's commands and edits, in order."""
    out: list[Command | Edit] = []
    for m in FENCE.finditer(text):
        kind, body = m[1], m[2]
        if kind == "diff":
            out.append(Edit(body))
        elif kind == "console":
            for raw in body.splitlines():
                if raw.startswith("$ "):
                    status = STATUS.search(raw)
                    argv = shlex.split(raw[2:], comments=True)
                    assert argv and argv[0] in (*RUNS, "cd"), f"the README runs what the test cannot: {raw}"
                    out.append(Command(argv, int(status[1]) if status else 0))
                elif raw.strip():
                    last = out[-1] if out else None
                    assert isinstance(last, Command), f"output before any command: {raw}"
                    last.shown.append(raw)
    return out


def _normal(line: str) -> str:
    return " ".join(line.split())


def pattern(shown: str) -> re.Pattern[str] | None:
    """A shown line as a pattern (`...` matches anything; spacing is not compared); None
    for a line of `...` alone."""
    text = _normal(shown)
    if text == "...":
        return None
    return re.compile(".*".join(re.escape(part) for part in text.split("...")))


def apply(diff: str, where: Path, env: dict[str, str]) -> None:
    """An edit, made with `git apply`: the README's diffs are patches a reader can apply."""
    r = subprocess.run(["git", "apply", "-"], cwd=where, env=env, input=diff, capture_output=True, text=True)
    assert r.returncode == 0, f"the README's diff does not apply: {r.stderr}\n{diff}"


def _env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    env.pop("VIRTUAL_ENV", None)
    (home / "tmp").mkdir()
    return {
        **env,
        "HOME": str(home),  # no git or pip configuration of the machine's user
        "TMPDIR": str(home / "tmp"),  # nslab's scratch folders (diff, mutate, init's wheel): checked empty
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_AUTHOR_NAME": "New User",
        "GIT_AUTHOR_EMAIL": "new.user@example.org",
        "GIT_COMMITTER_NAME": "New User",
        "GIT_COMMITTER_EMAIL": "new.user@example.org",
    }


def test_the_walk_through_is_made_of_commands_edits_and_the_lines_it_exists_to_show() -> None:
    """Pure: the section parses, every command is one the test runs, and it shows each
    key line (the flow the change opens, the diff, the coverage, the mutation score)."""
    found = steps(section((ROOT / "README.md").read_text()))
    commands = [s for s in found if isinstance(s, Command)]
    assert any(isinstance(s, Edit) for s in found) and commands
    for prefix, key in KEY:
        shown = [_normal(x) for c in commands if c.words.startswith(prefix) for x in c.shown]
        assert any(key.search(x) for x in shown), f"the walk-through shows no line like {key.pattern}"
    diffs = [c for c in commands if c.words.startswith("nslab diff")]
    assert diffs and all(c.status == 1 for c in diffs), "nslab diff of a change exits 1: say so"


def test_a_shown_line_is_a_pattern() -> None:
    """Pure: `...` matches anything, spacing is not compared, a line of `...` is skipped."""
    p = pattern("  tcp/22 v4   10.1.0.10 -> ...  refused: web: rejected by ...")
    assert p is not None
    assert p.fullmatch(_normal("  tcp/22 v4  10.1.0.10 -> 10.1.0.80  refused: web: rejected by input rule 5"))
    assert not p.fullmatch(_normal("  tcp/22 v4  10.1.0.10 -> 10.1.0.80  accepted (seen from 10.1.0.10)"))
    assert pattern("  ...") is None


@needs_netns
@pytest.mark.skipif(shutil.which("git") is None, reason="needs git (the walk-through's branch and diff)")
def test_the_first_hour_runs_as_the_readme_says(tmp_path: Path) -> None:
    before = host_snapshot()
    where = tmp_path / "work"
    where.mkdir()
    env = _env(tmp_path)
    for step in steps(section((ROOT / "README.md").read_text())):
        if isinstance(step, Edit):
            apply(step.diff, where, env)
            continue
        if step.argv[0] == "cd":
            where = where / step.argv[1]
            continue
        argv = [str(BIN / step.argv[0]), *step.argv[1:]] if step.argv[0] in ("nslab", "behave") else step.argv
        r = subprocess.run(argv, cwd=where, env=env, capture_output=True, text=True, timeout=TIMEOUT)
        said = f"$ {step.words}\n{r.stdout}{r.stderr}"
        assert r.returncode == step.status, (
            f"exit status {r.returncode}, the README says {step.status}\n{said}"
        )
        lines = [_normal(x) for x in (r.stdout + r.stderr).splitlines()]
        for shown in step.shown:
            p = pattern(shown)
            assert p is None or any(p.fullmatch(x) for x in lines), (
                f"the README shows {shown!r}; not so:\n{said}"
            )
    assert host_snapshot() == before
    assert not list((tmp_path / "tmp").iterdir()), "a scratch folder outlived its command"
