"""How the CI that `nslab init` writes installs nslab: the way this nslab was installed.

nslab may be on no package index, so `pip install nslab` is no answer. The installed
distribution says where it came from (PEP 610: direct_url.json, written by pip for every
install that was not from an index):

- no direct_url.json: from an index -> `nslab==VERSION`;
- from a VCS URL -> that URL at the commit pip resolved;
- from a local folder (editable or not) that is a git checkout with a remote the runner
  can reach -> `nslab @ git+REMOTE@HEAD` (HEAD must be pushed: said when nslab cannot see it
  on a remote branch);
- otherwise (a local folder without a remote, a wheel file) -> a wheel under `.nslab/`,
  committed with the repository and installed from there.

The line goes into `.nslab/requirements.txt`: one place, which also keys the pip cache.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from urllib.parse import unquote, urlparse

from nslab.errors import NslabError

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

REQUIREMENTS = ".nslab/requirements.txt"


@dataclass(frozen=True)
class Install:
    """A requirement line, how it was found, and the wheel to commit (if any)."""

    requirement: str  # "" until place_wheel put the wheel in place
    how: str  # one line for the user: where this line comes from
    wheel: Path | None = None  # a wheel (or sdist) file to copy under .nslab/
    build_from: Path | None = None  # a folder to build the wheel from
    notes: tuple[str, ...] = field(default=())


def _git(where: Path, *args: str) -> str | None:
    r = subprocess.run(["git", "-C", str(where), *args], capture_output=True, text=True)
    return r.stdout.strip() if r.returncode == 0 else None


def _reachable(url: str) -> str | None:
    """A remote URL as pip's git+ URL takes it, or None for one a runner cannot reach (a
    path on this machine)."""
    if re.match(r"^[\w.-]+@[\w.-]+:(?!//)", url):  # scp-like: git@github.com:me/repo.git
        user_host, path = url.split(":", 1)
        return f"ssh://{user_host}/{path}"
    scheme = urlparse(url).scheme
    return url if scheme in ("https", "http", "ssh", "git") else None


def from_checkout(folder: Path, version: str) -> Install:
    """A local folder nslab was installed from: its git remote at HEAD, else a wheel."""
    top = _git(folder, "rev-parse", "--show-toplevel")
    head = _git(folder, "rev-parse", "HEAD") if top else None
    wheel = Install(
        "",
        f"a wheel of {folder} under .nslab/ (no git remote of it that CI can reach; commit the wheel)",
        build_from=folder,
    )
    if not top or not head:
        return wheel
    branch = _git(folder, "rev-parse", "--abbrev-ref", "--symbolic-full-name", "@{upstream}") or ""
    remotes = (_git(folder, "remote") or "").split()
    name = (
        branch.split("/", 1)[0] if branch else ("origin" if "origin" in remotes else next(iter(remotes), ""))
    )
    url = _reachable(_git(folder, "remote", "get-url", name) or "") if name else None
    if url is None:
        return wheel
    sub = Path(folder).resolve().relative_to(Path(top).resolve()).as_posix()
    requirement = f"nslab @ git+{url}@{head}" + (f"#subdirectory={sub}" if sub != "." else "")
    notes = []
    if not _git(folder, "branch", "-r", "--contains", head):
        notes.append(f"{head[:12]} is on no branch of {name} that this checkout knows: push it")
    if _git(folder, "status", "--porcelain", "--untracked-files=no"):
        notes.append(f"{folder} has uncommitted changes: the CI installs {head[:12]} without them")
    return Install(requirement, f"the git remote {name} of {folder} at HEAD", notes=tuple(notes))


def of_direct_url(data: dict[str, object] | None, version: str) -> Install:
    """The requirement line for an install whose PEP 610 record is `data` (None: from an
    index)."""
    if data is None:
        return Install(f"nslab=={version}", f"nslab {version} from your package index")
    url = str(data.get("url", ""))
    vcs = data.get("vcs_info")
    if isinstance(vcs, dict):
        rev = vcs.get("commit_id") or vcs.get("requested_revision") or ""
        sub = data.get("subdirectory")
        tail = f"#subdirectory={sub}" if sub else ""
        return Install(f"nslab @ {vcs.get('vcs', 'git')}+{url}@{rev}{tail}", f"{url} at {rev}")
    parsed = urlparse(url)
    local = Path(unquote(parsed.path)) if parsed.scheme == "file" else None
    if "dir_info" in data and local is not None:
        return from_checkout(local, version)
    if local is not None and local.name.endswith((".whl", ".tar.gz", ".zip")):  # pip takes these by path
        return Install("", f"the archive {local}, copied under .nslab/ (commit it)", wheel=local)
    if parsed.scheme in ("https", "http"):
        return Install(f"nslab @ {url}", f"the archive {url}")
    raise NslabError(
        f"cannot tell how CI should install nslab (installed from {url or 'an unknown source'})",
        "reinstall nslab from an index, a git URL, a git checkout or a wheel, then nslab init again",
    )


def installed() -> Install:
    """How this nslab was installed, as a requirement line for CI."""
    dist = metadata.distribution("nslab")
    text = dist.read_text("direct_url.json")
    return of_direct_url(json.loads(text) if text else None, dist.version)


def backend_ready(pyproject: str) -> bool:
    """Whether this Python already has every build requirement a pyproject.toml names
    ([build-system] requires, at the versions it asks): then pip can build without an
    isolated environment, whose only job is to install those (measured on nslab's own
    tree: `pip wheel --no-deps` 1.9 s of CPU isolated, 0.5 s not; the suite runs `nslab
    init` ~20 times). Anything unknown (no [build-system], no `packaging` to read a
    requirement, a requirement with a marker or extra) says no: isolated, as pip does."""
    try:
        from packaging.requirements import InvalidRequirement, Requirement
    except ModuleNotFoundError:
        return False
    try:
        requires = tomllib.loads(pyproject)["build-system"]["requires"]
        wanted = [Requirement(str(text)) for text in requires]
    except (tomllib.TOMLDecodeError, KeyError, TypeError, InvalidRequirement):
        return False
    for req in wanted:
        if req.marker is not None or req.extras or req.url:
            return False
        try:
            have = metadata.version(req.name)
        except metadata.PackageNotFoundError:
            return False
        if not req.specifier.contains(have, prereleases=True):
            return False
    return bool(wanted)


def place_wheel(install: Install, directory: Path, isolated: bool | None = None) -> str:
    """The requirement line: the install's own, or the wheel it needs built or copied into
    `directory`/.nslab/ (the line then names it relative to `directory`). A wheel is built
    in pip's isolated build environment unless this Python has the build backend already
    (`backend_ready`); `isolated` decides it instead (tests build both ways)."""
    if install.wheel is None and install.build_from is None:
        return install.requirement
    folder = directory / ".nslab"
    if install.wheel is not None:
        if not install.wheel.is_file():
            raise NslabError(
                f"{install.wheel}: the file nslab was installed from is gone",
                "reinstall nslab, then nslab init",
            )
        folder.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(install.wheel, folder / install.wheel.name)
        return f"./.nslab/{install.wheel.name}"
    assert install.build_from is not None
    if not (install.build_from / "pyproject.toml").is_file():
        raise NslabError(
            f"{install.build_from}: the folder nslab was installed from has no pyproject.toml any more",
            "reinstall nslab from where its source is now, then nslab init",
        )
    if isolated is None:
        isolated = not backend_ready((install.build_from / "pyproject.toml").read_text())
    with tempfile.TemporaryDirectory(prefix="nslab-wheel-") as out:
        # pip is in every venv (the build module may not be); dependencies come from the index
        r = subprocess.run(
            [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", out,
             *([] if isolated else ["--no-build-isolation"]), str(install.build_from)],
            capture_output=True, text=True, timeout=600,
        )  # fmt: skip
        built = sorted(Path(out).glob("nslab-*.whl"))
        if r.returncode != 0 or not built:
            raise NslabError(
                f"cannot build a wheel of {install.build_from}: {(r.stderr or r.stdout).strip()[-300:]}",
                "install nslab from that wheel, built by hand (python3 -m build), then nslab init",
            )
        folder.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(built[0], folder / built[0].name)
    return f"./.nslab/{built[0].name}"
