"""nslab diff names its sides (before: ... / after: ..., --against's file is before) and
tells the two builds' progress lines apart; nslab changed lists the labs a change touches;
git's "dubious ownership" is one line with its fix; diagnostics bundles of two features of
one name in two folders are two files."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT, host_snapshot, needs_netns
from support.labs import host, lan_lab
from test_manager_world import needs_managers

from nslab.commands import Runner
from nslab.lab import Lab
from nslab.report.diagnostics import bundle_name

NSLAB = [sys.executable, "-m", "nslab.cli"]
SCAFFOLD = ROOT / "src" / "nslab" / "scaffold"


def nslab(
    *args: str, cwd: Path = ROOT, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*NSLAB, *args], cwd=cwd, capture_output=True, text=True, timeout=300, env=env)


def git(repo: Path, *args: str) -> None:
    subprocess.run(
        ["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@example.org", *args],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip


def a_lab(folder: Path, name: str = "lab") -> Path:
    """The scaffold's lab (pc and web, web.nft) in `folder`."""
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(SCAFFOLD / "web.nft", folder / "web.nft")
    (folder / f"{name}.toml").write_text((SCAFFOLD / "lab.toml").read_text())
    return folder / f"{name}.toml"


def drop_80(lab: Path) -> None:
    nft = lab.with_name("web.nft")
    nft.write_text(nft.read_text().replace("tcp dport 80 counter accept", "tcp dport 80 counter drop"))


@needs_netns
def test_diff_names_before_and_after_and_each_progress_line_its_side(tmp_path: Path) -> None:
    before = host_snapshot()
    old = a_lab(tmp_path / "old")
    new = a_lab(tmp_path / "new")
    drop_80(new)
    r = nslab("diff", "--lab", str(new), "--against", str(old))
    assert r.returncode == 1, r.stderr
    assert r.stdout.splitlines()[:2] == [f"before: mylab in {old}", f"after:  mylab in {new}"]
    assert "pc -> web tcp/80 v4: accepted" in r.stdout  # accepted before (old), dropped after (new)
    errs = r.stderr.splitlines()
    assert errs[:2] == [f"nslab: before: mylab in {old}", f"nslab: after:  mylab in {new}"]
    progress = errs[2:]
    assert progress and all(line.startswith(("nslab: before: ", "nslab: after: ")) for line in progress), errs
    assert any(line.startswith("nslab: before: building lab 'mylab'") for line in progress)
    assert any(line.startswith("nslab: after: building lab 'mylab'") for line in progress)

    repo = tmp_path / "repo"
    lab = a_lab(repo / "labs")
    git(repo, "init", "-q")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "lab")
    drop_80(lab)
    md = nslab("diff", "--lab", "labs/lab.toml", "--base", "HEAD", "--format", "markdown", cwd=repo)
    assert md.returncode == 1, md.stderr
    assert md.stdout.startswith(
        "- before: mylab in labs/lab.toml at HEAD\n- after: mylab in labs/lab.toml (as it is now)\n\n"
    ), md.stdout
    assert host_snapshot() == before


def _foreign_repo(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    """A repository owned by another user than this root, and an environment whose git has
    no global or system configuration (so no safe.directory of this machine's applies)."""
    repo = tmp_path / "theirs"
    a_lab(repo / "labs")
    git(repo, "init", "-q")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "lab")
    subprocess.run(["chown", "-R", "65534:65534", str(repo)], check=True)
    home = tmp_path / "home"
    home.mkdir()
    env = {**os.environ, "HOME": str(home), "GIT_CONFIG_NOSYSTEM": "1"}
    env.pop("SUDO_UID", None)  # git trusts sudo's caller's repositories: this is plain root
    env.pop("GIT_CONFIG_GLOBAL", None)
    return repo, env


def test_git_dubious_ownership_is_one_line_with_its_fix(tmp_path: Path) -> None:
    if os.geteuid() != 0:
        import pytest

        pytest.skip("makes a repository another user owns (chown): needs root")
    repo, env = _foreign_repo(tmp_path)
    fix = f"git config --global --add safe.directory {repo}"
    want = (
        f"nslab: git refuses {repo}: another user owns it than the one running nslab "
        f"(git's 'dubious ownership') (fix: trust it: {fix})"
    )
    d = nslab("diff", "--lab", "labs/lab.toml", "--base", "HEAD", cwd=repo, env=env)
    assert d.returncode == 2 and d.stderr.strip() == want, d.stderr
    c = nslab("changed", "--base", "HEAD", cwd=repo, env=env)
    assert c.returncode == 2 and c.stderr.strip() == want, c.stderr
    subprocess.run(fix.split(), env=env, check=True)  # the fix, as printed, works
    c = nslab("changed", "--base", "HEAD", cwd=repo, env=env)
    assert c.returncode == 0 and c.stdout == "", c.stderr
    assert "0 lab(s) changed since HEAD" in c.stderr


def test_changed_lists_the_labs_whose_file_or_rulesets_changed(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    lab = a_lab(repo / "labs")
    a_lab(repo / "labs" / "other")
    (repo / "pyproject.toml").write_text((SCAFFOLD / "pyproject.toml").read_text())
    git(repo, "init", "-q")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "labs")
    git(repo, "branch", "base")
    drop_80(lab)  # the ruleset of labs/lab.toml only
    (repo / "labs" / "new.toml").write_text(lab.read_text())
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "change")
    r = nslab("changed", "--base", "base", cwd=repo)
    assert r.returncode == 0, r.stderr
    assert r.stdout == "labs/lab.toml\n"
    assert "nslab: labs/new.toml is new since base: nothing to compare" in r.stderr
    sub = nslab("changed", "--base", "base", cwd=repo / "labs")  # paths from where it runs
    assert sub.stdout == "lab.toml\n"
    bad = nslab("changed", "--base", "nope", cwd=repo)
    assert bad.returncode == 2 and bad.stderr.strip() == (
        "nslab: unknown git revision 'nope' (fix: name a branch, tag or commit: --base origin/main)"
    )


def test_bundle_names_keep_the_features_folder() -> None:
    assert (
        bundle_name("features/dmz/02-edge.feature", "LAN reaches web") == "dmz.02-edge--lan-reaches-web.txt"
    )
    assert bundle_name("tests/features/ports-wrong.feature", "x y") == "ports-wrong--x-y.txt"
    assert bundle_name("features/a/x.feature", "s") != bundle_name("features/b/x.feature", "s")


@needs_netns
def test_two_features_of_one_name_in_two_folders_keep_two_bundles(tmp_path: Path) -> None:
    before = host_snapshot()
    (tmp_path / "steps").mkdir()
    shutil.copyfile(SCAFFOLD / "nslab_steps.py", tmp_path / "steps" / "nslab_steps.py")
    shutil.copyfile(SCAFFOLD / "environment.py", tmp_path / "environment.py")
    failing = (ROOT / "tests" / "features" / "deliberate-failure.feature").read_text()
    for folder in ("a", "b"):
        (tmp_path / "features" / folder).mkdir(parents=True)
        (tmp_path / "features" / folder / "same.feature").write_text(failing)
    reports = f"reports={tmp_path / 'r'}"
    r = subprocess.run(
        [sys.executable, "-m", "behave", "features", "-D", reports, "-D", "html=", "--no-junit"],
        cwd=tmp_path, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert r.returncode == 1 and "2 scenarios passed" not in r.stdout, r.stdout[-2000:]
    names = sorted(p.name for p in (tmp_path / "r" / "diagnostics").glob("*.txt"))
    assert names == [
        "a.same--expecting-replies-where-forward-drops-them.txt",
        "b.same--expecting-replies-where-forward-drops-them.txt",
    ]
    assert host_snapshot() == before


FIREWALLD_LAB = lan_lab(
    "fwd",
    "10.7.0.0/24",
    host("client", "10.7.0.10"),
    host("gw", "10.7.0.30", firewall='{ firewalld = "fwd-firewalld" }'),
)


@needs_netns
@needs_managers
def test_diff_base_and_changed_on_a_lab_with_a_firewalld_folder(tmp_path: Path) -> None:
    # a new user's trial: `nslab diff --lab labs/lab.toml --base main` (the CI's command)
    # failed, "host gw.firewall.firewalld: /tmp/nslab-diff-.../labs/fwd-firewalld is not a
    # folder", and `nslab changed` said 0 labs when only the folder's zone file changed
    before = host_snapshot()
    repo = tmp_path / "repo"
    shutil.copytree(ROOT / "features" / "managers" / "labs" / "gw-firewalld", repo / "labs" / "fwd-firewalld")
    (repo / "labs" / "lab.toml").write_text(FIREWALLD_LAB)
    git(repo, "init", "-q")
    git(repo, "add", "labs")
    git(repo, "commit", "-qm", "lab")
    zone = repo / "labs" / "fwd-firewalld" / "zones" / "public.xml"
    assert '<port protocol="tcp" port="8443"/>' in zone.read_text()
    zone.write_text(zone.read_text().replace('<port protocol="tcp" port="8443"/>', ""))  # 8443 closed
    c = nslab("changed", "--base", "HEAD", cwd=repo)
    assert (c.returncode, c.stdout) == (0, "labs/lab.toml\n"), c.stderr
    d = nslab("diff", "--lab", "labs/lab.toml", "--base", "HEAD", "-D", "probe_wait=1", cwd=repo)
    assert d.returncode == 1, d.stderr  # 1: something changed (2 was the folder's error)
    assert "  client -> gw tcp/8443 v4: accepted (" in d.stdout, d.stdout
    assert host_snapshot() == before


@needs_netns
def test_each_side_of_a_diff_checks_its_own_labs_rulesets_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # each check is a throwaway world (~0.2 s): a side opened on the settings' lab file and
    # then given its own lab checked both, so the after lab was checked three times and
    # the before lab once
    from nslab.cli.common import settings_of
    from nslab.lab import load_lab
    from nslab.reach import review
    from nslab.scenario import session

    checked: list[int] = []
    real = session.check_rulesets

    def counted(world: Runner, lab: Lab) -> None:
        checked.append(id(lab))
        real(world, lab)

    monkeypatch.setattr(session, "check_rulesets", counted)
    snap = host_snapshot()
    old, new = a_lab(tmp_path / "old"), a_lab(tmp_path / "new")
    drop_80(new)
    before, after = load_lab(old), load_lab(new)
    a, b = review.both(settings_of(str(new), ()), before, after)
    assert sorted(checked) == sorted([id(before), id(after)])
    assert a and b  # both sides measured
    assert host_snapshot() == snap


@needs_netns
def test_a_side_whose_ruleset_does_not_load_lets_the_other_side_go(tmp_path: Path) -> None:
    # its check fails as its session opens: the other side, waiting for its ports, must
    # not wait out the barrier's 600 s
    from nslab.cli.common import settings_of
    from nslab.errors import NslabError
    from nslab.lab import load_lab
    from nslab.reach import review
    from nslab.reach.managed_ports import Shared

    lab = a_lab(tmp_path / "new")
    nft = lab.with_name("web.nft")
    nft.write_text(nft.read_text().replace("counter accept", "counter acept"))
    shared = Shared()
    with pytest.raises(NslabError, match="does not load"):
        review.measure(settings_of(str(lab), ()), load_lab(lab), shared=shared)
    assert shared.failed
