"""`nslab changed --base REV`: the lab files a change touches, for CI to diff each one.

A lab is touched when its own file or any file it names differs between REV and the
working tree (what `nslab diff --base REV` compares): a ruleset file or one an nft file
includes, any file below a ufw or firewalld folder, Docker's daemon.json
(nslab.reach.lab_paths). Lab files are the repository's tracked .toml files with a [lab]
table; a lab that is new since REV has nothing to compare with and is said on stderr,
not listed.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from nslab.errors import LabError, NslabError
from nslab.reach import lab_paths

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

DUBIOUS = "dubious ownership"


def git(repo: Path, *args: str) -> str:
    """git's stdout; its failure as one NslabError (the ownership case with its fix)."""
    r = subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True)
    if r.returncode != 0:
        raise ownership_error(r.stderr, repo) or NslabError(
            f"git {' '.join(args)}: {r.stderr.strip().splitlines()[-1] if r.stderr.strip() else r.returncode}"
        )
    return r.stdout


def ownership_error(stderr: str, where: Path) -> NslabError | None:
    """git refuses a repository another user owns (CVE-2022-24765), e.g. one checked out by
    a CI runner's user and read by nslab under sudo: say so, with the fix, else None."""
    if DUBIOUS not in stderr:
        return None
    top = next(
        (line.split("'")[1] for line in stderr.splitlines() if "repository at '" in line and "'" in line),
        str(where),
    )
    return NslabError(
        f"git refuses {top}: another user owns it than the one running nslab (git's 'dubious ownership')",
        f"trust it: git config --global --add safe.directory {top}",
    )


def _is_lab(path: Path) -> bool:
    try:
        return isinstance(tomllib.loads(path.read_text(encoding="utf-8")).get("lab"), dict)
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        return False


def changed(repo: Path, base: str) -> tuple[list[Path], list[Path]]:
    """(lab files touched since `base` that exist there, lab files new since `base`), as
    absolute paths, sorted."""
    top = Path(git(repo, "rev-parse", "--show-toplevel").strip()).resolve()
    if subprocess.run(
        ["git", "-C", str(top), "rev-parse", "--verify", "--quiet", f"{base}^{{commit}}"], capture_output=True
    ).returncode:
        raise LabError(f"unknown git revision {base!r}", "name a branch, tag or commit: --base origin/main")
    touched = {Path(p) for p in git(top, "diff", "--name-only", base, "--").splitlines() if p}
    at_base = {Path(p) for p in git(top, "ls-tree", "-r", "--name-only", base).splitlines()}
    labs = sorted(
        Path(p)
        for p in git(top, "ls-files", "--cached", "--others", "--exclude-standard", "*.toml").splitlines()
        if Path(p).name != "pyproject.toml" and _is_lab(top / p)
    )
    out: list[Path] = []
    new: list[Path] = []
    for lab in labs:
        files = {lab}
        files.update(Path(os.path.relpath(p.resolve(), top)) for p in lab_paths.on_disk(top / lab))
        if any(t in files or not files.isdisjoint(t.parents) for t in touched):  # a folder: any file below
            (out if lab in at_base else new).append(top / lab)
    return out, new
