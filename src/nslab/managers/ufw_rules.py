"""A ufw folder's rules files (`firewall = { ufw = "FOLDER" }`: before.rules, user.rules,
after.rules and their IPv6 twins), loaded for real in a throwaway world before anything is
built, as a lab's iptables files are (nslab.firewall.rulesets): a problem names the file
and the faulty rule's line. Before, `nslab validate` said nothing of the folder and passed a
user.rules jumping to `ACCCEPT`; the build then failed with ufw's "problem running
ufw-init" and no file.

ufw-init loads the files with `iptables-restore -n`, before, after, then user, over chains
it made first (ufw-skip-to-policy-input, ufw-logging-deny ...; the ufw-user-* chains just
before user.rules), which the shipped files jump to without declaring. So they are loaded
the same way, in the same order, each over what the ones before it made (a file the folder
lacks is the package's, as the managers stage lays the folder over it); a file's line
numbers are then the user's own. Not `--test` alone: iptables-restore (nf_tables, 1.8.9)
passes a jump to `ACCCEPT` there; it fails only when committed."""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Sequence
from collections.abc import Set as AbstractSet
from contextlib import AbstractContextManager
from pathlib import Path

from nslab.commands import Runner
from nslab.errors import LabError
from nslab.firewall.iptables import WAIT
from nslab.firewall.kind import Problem
from nslab.firewall.rulesets import problem
from nslab.lab import Host

# The rules files ufw-init reads from /etc/ufw, in its order (IPv4, then IPv6); any other
# file of the folder (ufw.conf, applications.d/ ...) is not an iptables-restore file.
ORDER = (("before", "after", "user"), ("before6", "after6", "user6"))
SHIPPED = Path("/usr/share/ufw/iptables")  # the package's files, under the folder's

# The chains ufw-init (/usr/lib/ufw/ufw-init-functions, ufw 0.36.2) makes before it loads
# the files, and those it makes just before user.rules; {t} is "" or "6".
PRIMARY = [
    f"ufw{{t}}-{stage}-{hook}"
    for stage in ("before-logging", "before", "after", "after-logging", "reject", "track", "skip-to-policy")
    for hook in ("input", "output", "forward")
] + ["ufw{t}-logging-deny", "ufw{t}-logging-allow"]
USER = [
    f"ufw{{t}}-user-{c}"
    for c in ("input", "output", "forward", "logging-input", "logging-output", "logging-forward")
] + ["ufw{t}-user-limit", "ufw{t}-user-limit-accept"]

_TABLE = re.compile(r"^\*(\w+)", re.M)


def rules_files(folder: Path) -> list[Path]:
    """The folder's rules files ufw reads, in ufw-init's order."""
    paths = [folder / f"{name}.rules" for names in ORDER for name in names]
    return [p for p in paths if p.is_file()]


def _declare(chains: list[str], t: str, tables: AbstractSet[str] = frozenset()) -> str:
    """Each table in `tables` flushed (a restore without -n), the filter table's `chains` made."""
    lines = [f"*{table}\nCOMMIT" for table in sorted(tables - {"filter"})]
    lines += ["*filter", *(f":{c.format(t=t)} - [0:0]" for c in chains), "COMMIT"]
    return "\n".join(lines) + "\n"


class Unchecked(Exception):
    """A family the target cannot load at all (no IPv6 in its kernel): its files go unchecked."""


def check_family(runner: Runner, folder: Path, names: tuple[str, ...]) -> Problem | None:
    """One family's files (IPv4's or IPv6's) loaded as ufw-init loads them, in `runner` (a
    throwaway world's root namespace): the first problem in the folder's files, or None.
    Unchecked where the tool cannot load even ufw-init's own chains there."""
    t = "6" if names[0].endswith("6") else ""
    tool = f"ip{t}tables-restore"
    files = [(n, folder / f"{n}.rules") for n in names]
    texts = {n: (p if p.is_file() else SHIPPED / f"{n}.rules") for n, p in files}
    contents = {n: (p.read_text() if p.is_file() else "") for n, p in texts.items()}
    tables = {"filter"} | {m for c in contents.values() for m in _TABLE.findall(c)}
    if not any(p.is_file() for _, p in files):
        return None
    first = runner.run([tool, WAIT], stdin=_declare(PRIMARY, t, tables), timeout=30)
    if not first.ok:
        raise Unchecked(f"{tool} cannot load ufw's own chains here: {first.output.strip()[-200:]}")

    def load(upto: str, text: str) -> tuple[bool, str]:
        """Flush, make ufw-init's chains, load the files before `upto`, then `text`."""
        runner.run([tool, WAIT], stdin=_declare(PRIMARY, t, tables), timeout=30, check=True)
        for n in names:
            if n.startswith("user"):
                runner.run([tool, WAIT, "-n"], stdin=_declare(USER, t), timeout=30, check=True)
            if n == upto:
                r = runner.run([tool, WAIT, "-n"], stdin=text, timeout=30)
                return r.ok, r.output
            if contents[n]:
                runner.run([tool, WAIT, "-n"], stdin=contents[n], timeout=30)
        raise AssertionError(upto)

    # the files in order, each over the ones before it (`first` made ufw-init's chains): one
    # restore a file where loading each from scratch took 1+2+3; `load` is for the line of
    # a file that fails, found by loading its prefixes
    for n, path in files:
        if n.startswith("user"):
            runner.run([tool, WAIT, "-n"], stdin=_declare(USER, t), timeout=30, check=True)
        if not contents[n]:
            continue
        r = runner.run([tool, WAIT, "-n"], stdin=contents[n], timeout=30)
        if r.ok or not path.is_file():
            continue  # the package's own file (the folder lacks it) is not the user's problem

        def loads(text: str, upto: str = n) -> bool:  # a prefix of the file, for its line
            return load(upto, text)[0]

        return problem("iptables", r.output, contents[n], path, loads)
    return None


def load_ufw_folders(runner: Runner, hosts: Sequence[Host]) -> int:
    """The ufw hosts' folders' rules files load in `runner` (a throwaway world); the first
    that does not is one LabError naming the host, the file and the faulty rule's line.
    Returns how many files were loaded."""
    count = 0
    for host in hosts:
        if host.manager is None or host.manager.folder is None:
            continue  # commands only: nothing to load (ufw's parser checks them)
        folder = host.manager.folder
        for names in ORDER:
            try:
                found = check_family(runner, folder, names)
            except Unchecked:
                continue  # not counted: the ok line says how many were loaded
            if found is not None:
                raise LabError(f"host {host.name}'s ufw folder does not load: {found.words()}", found.fix)
            count += sum(1 for n in names if (folder / f"{n}.rules").is_file())
    return count


def check_ufw_folders(
    hosts: Sequence[Host], path: str, world: Callable[[], AbstractContextManager[Runner]]
) -> str:
    """What `nslab validate` says it checked of the ufw hosts' folders ("" where there are
    none); raises LabError on the first rule that does not load. `world`: a throwaway world."""
    folders = [h.manager.folder for h in hosts if h.manager is not None and h.manager.folder is not None]
    if not folders:
        return ""
    names = ", ".join(h.name for h in hosts if h.manager is not None and h.manager.folder is not None)
    if os.geteuid() != 0:
        return f"; ufw folders of {names} not checked (not root: as root, loaded in a throwaway world)"
    with world() as scratch:
        count = load_ufw_folders(scratch, hosts)
    given = sum(len(rules_files(f)) for f in folders)
    rest = f" ({given - count} not: its tool cannot load here, IPv6 off?)" if count < given else ""
    return (
        f"; ufw folders of {names}: {count} rules file(s) loaded in a throwaway world, "
        f"as ufw-init loads them{rest}"
    )
