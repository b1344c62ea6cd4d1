"""`nslab init`: nslab in the user's own repository. Writes a lab, an example feature, the
one-line steps and hooks, [tool.nslab] and a CI workflow; never overwrites a file."""

from __future__ import annotations

from pathlib import Path

from nslab.errors import NslabError

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


def init(directory: Path, vagrant: bool = False) -> list[Path]:
    """Write the scaffold into `directory` (with a Vagrantfile that uses the installed
    package's stages, if asked); refuse, writing nothing, if any file exists (pyproject.toml
    gains a [tool.nslab] table unless it has one)."""
    directory.mkdir(parents=True, exist_ok=True)
    files = {**FILES, **({"Vagrantfile": "Vagrantfile"} if vagrant else {})}
    targets = {directory / dest: (HERE / src).read_text() for src, dest in files.items()}
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
    for path, text in targets.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    if pyproject.exists():
        old = pyproject.read_text()
        body = tables if "[tool.behave]" not in old else tables.split("[tool.behave]")[0]
        pyproject.write_text(old.rstrip("\n") + "\n\n" + body)
    else:
        pyproject.write_text(tables)
    return [*targets, pyproject]
