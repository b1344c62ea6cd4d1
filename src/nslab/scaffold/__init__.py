"""`nslab init`: nslab in the user's own repository. Writes a lab, an example feature, the
one-line steps and hooks, [tool.nslab], a CI workflow with the line that installs this nslab
(.nslab/requirements.txt, and the wheel beside it where there is no other way) and reports/
in .gitignore; never overwrites a file."""

from __future__ import annotations

from pathlib import Path

from nslab.errors import NslabError
from nslab.scaffold import install as install_mod

HERE = Path(__file__).parent
# scaffold file -> where it goes in the user's repository
FILES = {
    "lab.toml": "labs/lab.toml",
    "web.nft": "labs/web.nft",
    "example.feature": "features/example.feature",
    "nslab_steps.py": "steps/nslab_steps.py",
    "environment.py": "environment.py",
    "nslab.yml": ".github/workflows/nslab.yml",
}


IGNORED = "reports/"  # what every run writes; never for git


def init(
    directory: Path, vagrant: bool = False, install: install_mod.Install | None = None
) -> tuple[list[Path], list[str]]:
    """Write the scaffold into `directory` (with a Vagrantfile that uses the installed
    package's stages, if asked); refuse, writing nothing, if any file exists (pyproject.toml
    gains a [tool.nslab] table unless it has one; .gitignore gains reports/ unless it has
    it). `install`: how CI installs nslab (default: how this nslab was installed). Returns
    the files written and what was done besides, one line each, for the user."""
    directory.mkdir(parents=True, exist_ok=True)
    files = {**FILES, **({"Vagrantfile": "Vagrantfile"} if vagrant else {})}
    targets = {directory / dest: (HERE / src).read_text() for src, dest in files.items()}
    targets[directory / install_mod.REQUIREMENTS] = ""  # written once the line is known
    pyproject = directory / "pyproject.toml"
    tables = (HERE / "pyproject.toml").read_text()
    existing = [p for p in targets if p.exists()]
    if pyproject.exists() and "[tool.nslab]" in pyproject.read_text():
        existing.append(pyproject)
    if existing:
        names = ", ".join(str(p.relative_to(directory)) for p in existing)
        raise NslabError(
            f"{directory}: already there: {names}; nslab init writes over no file",
            "move them aside, or init another folder",
        )
    how = install or install_mod.installed()
    line = install_mod.place_wheel(how, directory)  # before the rest: a failed build writes nothing else
    targets[directory / install_mod.REQUIREMENTS] = f"{line}\n"
    said = [f"CI installs nslab from {how.how}: {line}", *how.notes]
    for path, text in targets.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    if line.startswith("./.nslab/"):
        targets[directory / line] = ""
    said.append(_ignore_reports(directory / ".gitignore"))
    if pyproject.exists():
        old = pyproject.read_text()
        body = tables if "[tool.behave]" not in old else tables.split("[tool.behave]")[0]
        pyproject.write_text(old.rstrip("\n") + "\n\n" + body)
    else:
        pyproject.write_text(tables)
    return [*targets, pyproject], said


def _ignore_reports(gitignore: Path) -> str:
    """reports/ in .gitignore: a new file, a line added to the user's, or nothing to do."""
    if not gitignore.exists():
        gitignore.write_text(f"{IGNORED}\n")
        return f"wrote {gitignore} ({IGNORED})"
    old = gitignore.read_text()
    if any(line.strip() in (IGNORED, "/" + IGNORED, "reports", "/reports") for line in old.splitlines()):
        return f"{gitignore} already ignores {IGNORED}; left as it was"
    gitignore.write_text(old + ("" if old.endswith("\n") or not old else "\n") + f"{IGNORED}\n")
    return f"added {IGNORED} to the end of your {gitignore}"
