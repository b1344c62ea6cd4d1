"""A lab at a git revision has every file it names, folders included (`nslab diff --base`'s
before side), and a lab is changed when any of them is (`nslab changed`): a firewalld or
ufw folder, Docker's daemon.json, an nft file's includes. Git in a temporary repository
only: no world, no namespace."""

from __future__ import annotations

import subprocess
from pathlib import Path

from support.labs import host, lan_lab

from nslab.reach import review
from nslab.reach.changed_labs import changed

LAB = lan_lab(
    "folders",
    "10.7.0.0/24",
    host("gw", "10.7.0.30", firewall='{ firewalld = "fwd-firewalld" }'),
    host("web", "10.7.0.20", firewall='{ ufw = "web-ufw" }'),
    host(
        "dock",
        "10.7.0.40",
        firewall='{ nft = "rules/dock.nft" }',
        docker='{ containers = [{ name = "app", publish = ["9000:80"] }], daemon = "daemon.json" }',
    ),
    head="[firewall]  # the lab's host's own file\nnft = \"host.nft\"\n",
)

# each file the lab names, by its path below labs/, as committed
FILES = {
    "fwd-firewalld/zones/public.xml": '<?xml version="1.0"?>\n<zone><service name="ssh"/></zone>\n',
    "fwd-firewalld/firewalld.conf": "DefaultZone=public\n",
    "web-ufw/user.rules": "*filter\nCOMMIT\n",
    "daemon.json": '{ "bip": "172.26.0.1/16" }\n',
    "rules/dock.nft": 'include "./common.nft"\ninclude "./sets.d/*.nft"\n',
    "rules/common.nft": "table inet dock {\n}\n",
    "rules/sets.d/web.nft": "table inet web {\n}\n",
    "host.nft": "table inet host {\n}\n",
}


def git(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@example.org", *args],
        check=True, capture_output=True, text=True, timeout=60,
    ).stdout  # fmt: skip


def a_repo(tmp_path: Path) -> Path:
    """A repository whose labs/lab.toml names folders, a daemon.json and nft includes,
    committed, with a branch `base` there, and a file beside them."""
    repo = tmp_path / "repo"
    labs = repo / "labs"
    for name, text in FILES.items():
        (labs / name).parent.mkdir(parents=True, exist_ok=True)
        (labs / name).write_text(text)
    (labs / "lab.toml").write_text(LAB)
    (repo / "notes.txt").write_text("not the lab's\n")
    git(repo, "init", "-q")
    git(repo, "add", "labs", "notes.txt")
    git(repo, "commit", "-qm", "lab")
    git(repo, "branch", "base")
    return repo


def test_the_lab_at_a_revision_has_its_folders_daemon_json_and_includes(tmp_path: Path) -> None:
    # a new user's trial: nslab diff --base main failed on every lab with a firewalld folder,
    # "host gw.firewall.firewalld: .../fwd-firewalld is not a folder" (the folder committed)
    repo = a_repo(tmp_path)
    labs = repo / "labs"
    for name in FILES:  # the working tree differs from the revision in every named file
        (labs / name).write_text("changed since\n")
    (labs / "web-ufw" / "after.rules").write_text("new since\n")
    scratch = tmp_path / "scratch"
    lab = review.base_lab(labs / "lab.toml", "base", scratch)
    gw, web, dock = lab.hosts
    assert gw.manager is not None and gw.manager.folder == (scratch / "labs" / "fwd-firewalld").resolve()
    assert web.manager is not None and web.manager.folder == (scratch / "labs" / "web-ufw").resolve()
    assert dock.docker is not None and str(dock.docker.bip) == "172.26.0.1/16"  # the revision's daemon.json
    assert [r.path for r in lab.host_rulesets] == [(scratch / "labs" / "host.nft").resolve()]
    copied = {str(p.relative_to(scratch / "labs")) for p in (scratch / "labs").rglob("*") if p.is_file()}
    assert copied == {*FILES, "lab.toml"}  # the revision's files, not the working tree's new one
    for name, text in FILES.items():
        assert (scratch / "labs" / name).read_text() == text, name


def test_a_lab_is_changed_when_a_file_in_a_folder_it_names_is(tmp_path: Path) -> None:
    repo = a_repo(tmp_path)
    assert changed(repo, "base") == ([], [])
    (repo / "notes.txt").write_text("edited\n")  # not a file the lab names
    assert changed(repo, "base") == ([], [])
    for name in FILES:
        file = repo / "labs" / name
        file.write_text(file.read_text() + "# edited\n")
        assert changed(repo, "base") == ([repo / "labs" / "lab.toml"], []), name
        git(repo, "checkout", "base", "--", f"labs/{name}")
    (repo / "labs" / "web-ufw" / "after.rules").write_text("new since\n")  # a file new in the folder
    git(repo, "add", "labs/web-ufw/after.rules")
    assert changed(repo, "base") == ([repo / "labs" / "lab.toml"], [])
