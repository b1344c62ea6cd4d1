"""Every file a lab names besides itself, for the two commands that read a lab at a git
revision: `nslab diff --base REV` (the before side, copied out of git into a scratch
folder) and `nslab changed --base REV` (a lab is touched when one of them changed).

A lab names: each host's ruleset files and the files an nft file includes, a ufw or
firewalld folder laid over its /etc (every file below it), Docker's daemon.json, and the
lab's own [firewall] ruleset files. `named` reads them from the lab file's raw TOML, as
the lab at a revision has no files on disk to load it with; `in_lab` from a loaded lab.

>>> named({"host": [{"firewall": {"firewalld": "gw-fwd"}, "docker": {"daemon": "d.json"}}]})
[('firewalld', 'gw-fwd'), ('daemon', 'd.json')]
"""

from __future__ import annotations

import contextlib
import fnmatch
import posixpath
import sys
from collections.abc import Callable, Mapping
from pathlib import Path, PurePosixPath
from typing import Any

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

from nslab.errors import LabError
from nslab.firewall import get_kind
from nslab.firewall.kind import WILDCARD, Kind
from nslab.firewall.rulesets import with_included
from nslab.lab import Lab, load_lab
from nslab.lab.model import RULESET_KINDS


def named(raw: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(key, path as written, relative to the lab file's folder) of every file or folder
    the raw lab file names; a value of the wrong type is left to the lab's own checks."""
    out: list[tuple[str, str]] = []
    hosts = raw.get("host", [])
    for host in hosts if isinstance(hosts, list) else []:
        if not isinstance(host, dict):
            continue
        firewall = host.get("firewall", {})
        if isinstance(firewall, dict):  # ruleset files, or a manager's folder (ufw commands: a list)
            out += [(k, v) for k, v in firewall.items() if isinstance(v, str)]
        docker = host.get("docker", {})
        if isinstance(docker, dict) and isinstance(docker.get("daemon"), str):
            out.append(("daemon", docker["daemon"]))
    firewall = raw.get("firewall", {})  # the lab's host's own files; backend, chain, policy are not files
    if isinstance(firewall, dict):
        out += [(k, v) for k, v in firewall.items() if k in RULESET_KINDS and isinstance(v, str)]
    return out


Copy = Callable[[PurePosixPath], bytes]  # one file at a revision, written out; its bytes


def at_revision(raw: Mapping[str, Any], lab: PurePosixPath, tree: set[PurePosixPath], copy: Copy) -> None:
    """Copy every file the lab `lab` (its path in the repository) names as it was at a
    revision: `tree` is every file there, `copy(path)` writes one and gives its bytes (or
    raises the LabError that it does not exist). A named folder brings every file below
    it; an nft file the files it includes (relative ones, wildcards too)."""
    spelled = sorted((f.as_posix(), f) for f in tree)  # once: a repository may hold many files
    for key, name in named(raw):
        path = _norm(lab.parent / name)
        below = [f for text, f in spelled if text.startswith(f"{path.as_posix()}/")]
        if path not in tree and below:  # a folder: ufw's, firewalld's
            for file in below:
                copy(file)
        else:  # a ruleset file brings what it includes (its kind says what: nft's); others none
            _with_includes(path, get_kind(key), tree, copy, 0, set())


def _with_includes(
    path: PurePosixPath,
    kind: Kind,
    tree: set[PurePosixPath],
    copy: Copy,
    depth: int,
    seen: set[PurePosixPath],
) -> None:
    """A file and what its kind says it includes, read from its own folder as nslab loads
    it (the kind's placements); an include not in the tree is left for loading the lab to
    name, and a bare name not beside the file is the tool's include path's."""
    if path in seen or depth > kind.include_depth:  # the load says which file nests too deep
        return
    seen.add(path)
    data = copy(path)
    if not kind.include_depth:
        return  # a kind whose files include none (or no ruleset file: a daemon.json)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return  # not a file of its kind: loading it says so
    for name in kind.includes(text):
        if name.startswith("/"):
            continue  # the machine's own file, not the repository's
        if WILDCARD.search(name):
            pattern = _norm(path.parent / name)
            for f in sorted(t for t in tree if t.parent == pattern.parent):
                if fnmatch.fnmatchcase(f.name, pattern.name):
                    _with_includes(f, kind, tree, copy, depth + 1, seen)
        elif _norm(path.parent / name) in tree:
            _with_includes(_norm(path.parent / name), kind, tree, copy, depth + 1, seen)


def _norm(path: PurePosixPath) -> PurePosixPath:
    return PurePosixPath(posixpath.normpath(path))


def on_disk(lab_file: Path) -> list[Path]:
    """Every file and folder the lab file names, as the working tree has it: what a change
    to touches the lab. Read from its TOML first, so a lab one of whose files no longer
    loads (a daemon.json made invalid) is still touched by it; the loaded lab adds its nft
    files' includes."""
    try:
        raw = tomllib.loads(lab_file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        return []  # its own file changed: nslab diff says why
    out = [lab_file.parent / name for _, name in named(raw)]
    with contextlib.suppress(LabError):  # what it names still counts; nslab diff says what is wrong
        out += in_lab(load_lab(lab_file))
    return out


def in_lab(lab: Lab) -> list[Path]:
    """Every file and folder a loaded lab names (absolute), nft includes too."""
    out: list[Path] = []
    for ruleset in [*lab.host_rulesets, *(r for h in lab.hosts for r in h.rulesets)]:
        out += with_included(ruleset.kind, ruleset.path)
    for host in lab.hosts:
        if host.manager is not None and host.manager.folder is not None:
            out.append(host.manager.folder)
        if host.docker is not None and host.docker.daemon is not None:
            out.append(host.docker.daemon)
    return out
