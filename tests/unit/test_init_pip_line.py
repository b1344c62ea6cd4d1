"""`nslab init` writes the pip line that installs nslab the way it was installed (PEP 610's
direct_url.json of the installed distribution): an index version, a git URL pinned at the
commit, or a wheel under .nslab/; and reports/ in .gitignore without overwriting the user's."""

from __future__ import annotations

import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest
from conftest import ROOT

from nslab.errors import NslabError
from nslab.scaffold import init
from nslab.scaffold.install import Install, of_direct_url

NSLAB = [sys.executable, "-m", "nslab.cli"]


def run(argv: list[str], cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, cwd=cwd, capture_output=True, text=True, timeout=600)


def test_an_editable_install_from_a_git_checkout_gives_its_remote_pinned_at_head(tmp_path: Path) -> None:
    """A real editable install (pip into a fresh venv) from a clone of this checkout whose
    origin is a URL a runner can reach: the line is git+URL@HEAD, and pip takes its form."""
    src = tmp_path / "nslab-src"
    assert run(["git", "clone", "-q", str(ROOT), str(src)]).returncode == 0
    assert (
        run(
            ["git", "-C", str(src), "remote", "set-url", "origin", "https://example.org/me/nslab.git"]
        ).returncode
        == 0
    )
    head = run(["git", "-C", str(src), "rev-parse", "HEAD"]).stdout.strip()
    venv = tmp_path / "venv"
    # a venv without a pip of its own, installed into by the suite's pip (--python): making
    # one with pip took 3 s of CPU; nslab's dependencies come from the suite's own venv (a
    # .pth line), so pip installs nslab alone, editable as before
    assert run([sys.executable, "-m", "venv", "--without-pip", str(venv)]).returncode == 0
    (site,) = (venv / "lib").glob("python3*/site-packages")
    (site / "suite-deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    pip_into_venv = [sys.executable, "-m", "pip", "--python", str(venv / "bin" / "python")]
    pip = run(
        [
            *pip_into_venv,
            "install",
            "-q",
            "--disable-pip-version-check",
            "--no-deps",
            "-e",
            str(src),
        ]
    )
    assert pip.returncode == 0, pip.stderr[-2000:]
    r = run([str(venv / "bin" / "nslab"), "init", str(tmp_path / "repo")])
    assert r.returncode == 0, r.stderr
    line = (tmp_path / "repo" / ".nslab" / "requirements.txt").read_text()
    assert line == f"nslab @ git+https://example.org/me/nslab.git@{head}\n"
    assert f"CI installs nslab from the git remote origin of {src} at HEAD: {line.strip()}" in r.stdout
    assert "push it" not in r.stdout and not list((tmp_path / "repo" / ".nslab").glob("*.whl"))
    # the same form, with a URL this machine reaches, is a requirement pip installs
    same = f"nslab @ git+file://localhost{src}@{head}"  # a netloc: pip wants one
    dry = run([*pip_into_venv, "install", "--dry-run", "--no-deps", "-q", same])
    assert dry.returncode == 0, dry.stderr[-2000:]

    # a commit not pushed, and a change not committed: said, since CI cannot install them
    (src / "README.md").write_text("changed\n")
    assert run(["git", "-C", str(src), "-c", "user.name=t", "-c", "user.email=t@example.org",
                "commit", "-qam", "local"]).returncode == 0  # fmt: skip
    (src / "README.md").write_text("changed again\n")
    r = run([str(venv / "bin" / "nslab"), "init", str(tmp_path / "repo2")])
    assert r.returncode == 0, r.stderr
    new_head = run(["git", "-C", str(src), "rev-parse", "HEAD"]).stdout.strip()
    assert f"{new_head[:12]} is on no branch of origin that this checkout knows: push it" in r.stdout
    assert f"{src} has uncommitted changes: the CI installs {new_head[:12]} without them" in r.stdout


def test_a_source_folder_that_is_gone_is_said_before_anything_is_written(tmp_path: Path) -> None:
    gone = Install("", "a folder", build_from=tmp_path / "moved")
    with pytest.raises(NslabError, match=r"the folder nslab was installed from has no pyproject\.toml"):
        init(tmp_path / "repo", install=gone)
    assert list((tmp_path / "repo").iterdir()) == []


def test_each_kind_of_install_record_gives_its_line() -> None:
    """PEP 610 records as pip writes them (pure: the real installs are tested above, in
    tests/netns/test_init_workflow.py and test_installed_wheel.py)."""
    assert of_direct_url(None, "1.2.0").requirement == "nslab==1.2.0"
    vcs = {
        "url": "https://example.org/me/nslab.git",
        "vcs_info": {"vcs": "git", "commit_id": "ab12", "requested_revision": "main"},
    }
    assert of_direct_url(vcs, "1.2.0").requirement == "nslab @ git+https://example.org/me/nslab.git@ab12"
    sub = {**vcs, "subdirectory": "py"}
    assert of_direct_url(sub, "1.2.0").requirement.endswith("@ab12#subdirectory=py")
    wheel = of_direct_url(
        {"url": "file:///tmp/dist/nslab-1.2.0-py3-none-any.whl", "archive_info": {}}, "1.2.0"
    )
    assert wheel.wheel == Path("/tmp/dist/nslab-1.2.0-py3-none-any.whl") and wheel.requirement == ""
    archive = {"url": "https://example.org/nslab-1.2.0.tar.gz", "archive_info": {}}
    assert of_direct_url(archive, "1.2.0").requirement == "nslab @ https://example.org/nslab-1.2.0.tar.gz"
    sdist = of_direct_url({"url": "file:///tmp/nslab-1.2.0.tar.gz", "archive_info": {}}, "1.2.0")
    assert sdist.wheel == Path("/tmp/nslab-1.2.0.tar.gz")
    with pytest.raises(NslabError, match="cannot tell how CI should install nslab"):
        of_direct_url({"url": "ftp://example.org/nslab.tar.gz", "archive_info": {}}, "1.2.0")


@pytest.mark.parametrize(
    ("old", "new", "said"),
    [
        ("node_modules/", "node_modules/\nreports/\n", "added reports/ to the end of your"),
        ("reports/\n*.pyc\n", "reports/\n*.pyc\n", "already ignores reports/; left as it was"),
    ],
)
def test_init_ignores_reports_in_the_users_gitignore(tmp_path: Path, old: str, new: str, said: str) -> None:
    (tmp_path / ".gitignore").write_text(old)
    r = run([*NSLAB, "init", str(tmp_path)])
    assert r.returncode == 0, r.stderr
    assert (tmp_path / ".gitignore").read_text() == new
    assert said in r.stdout
    again = run([*NSLAB, "init", str(tmp_path)])
    assert again.returncode == 1 and ".nslab/requirements.txt" in again.stderr


def test_the_build_backend_is_ready_only_when_every_build_requirement_is_installed() -> None:
    """Pure: [build-system] requires read with this venv's packages (hatchling and packaging
    are dev dependencies): satisfied builds without isolation, anything else isolated."""
    from nslab.scaffold.install import backend_ready

    def system(*requires: str) -> str:
        return "[build-system]\nrequires = [" + ", ".join(f'"{r}"' for r in requires) + "]\n"

    assert backend_ready(system("hatchling>=1.24"))
    assert backend_ready((ROOT / "pyproject.toml").read_text())  # nslab's own
    assert not backend_ready(system("hatchling>=999"))  # installed, too old
    assert not backend_ready(system("hatchling", "no-such-backend-nslab"))  # one missing
    assert not backend_ready(system("hatchling; python_version < '3'"))  # a marker: not judged
    assert not backend_ready(system())  # nothing named
    assert not backend_ready('[project]\nname = "x"\n')  # no [build-system]: pip's default
    assert not backend_ready("[build-system\n")  # not TOML


def test_a_wheel_built_without_isolation_is_the_isolated_ones_file_for_file(tmp_path: Path) -> None:
    """The wheel `nslab init` puts under .nslab/ has the same files with the same contents
    whether pip built it in an isolated environment (a user's venv without hatchling) or
    not (the backend already here): skipping isolation changes only the time it takes."""
    import zipfile

    from nslab.scaffold.install import place_wheel

    wheels = {}
    for isolated in (True, False):
        where = tmp_path / f"isolated-{isolated}"
        line = place_wheel(Install("", "this checkout", build_from=ROOT), where, isolated=isolated)
        with zipfile.ZipFile(where / line.removeprefix("./")) as z:
            wheels[isolated] = {
                name: z.read(name) for name in z.namelist() if not name.endswith(".dist-info/RECORD")
            }
    assert wheels[True] == wheels[False]
    assert any(name.endswith("nslab/behave/steps/__init__.py") for name in wheels[True])
