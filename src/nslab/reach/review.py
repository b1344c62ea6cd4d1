"""Change review: a lab built in a fresh world and explored (nslab explore), and two labs
(a lab file and the same file at a git revision, or another lab file) built in two worlds
at once and explored over the union of their flows (nslab diff). Each lab gets a world of
its own, so no conntrack entry or listener of one side is seen by the other.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path, PurePosixPath

from nslab.config import Settings
from nslab.errors import LabError, NslabError
from nslab.lab import Lab, load_lab
from nslab.reach import lab_paths
from nslab.reach.changed_labs import ownership_error
from nslab.reach.explore import Explorer, Measured, Verdict
from nslab.reach.flows import Flow, derive, own_addresses, wanted
from nslab.reach.managed_ports import Shared, live_ports
from nslab.scenario.session import LabSession

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib


_SAYING = threading.Lock()


def say(message: str) -> None:
    # one write under a lock: print() writes the line and its newline apart, and a diff's
    # two sides (two threads) interleaved them ("...probing 40 flowsnslab: after: ...")
    with _SAYING:
        sys.stderr.write(f"nslab: {message}\n")
        sys.stderr.flush()


def measure(
    settings: Settings,
    lab: Lab,
    extra_flows: Iterable[Flow] = (),
    ports: Iterable[tuple[str, int]] = (),
    progress: Callable[[str], None] = say,
    shared: Shared | None = None,
) -> list[Measured]:
    """Build `lab` in a fresh world on the settings' target and measure its flows (its
    own, derived, and `extra_flows` whose places it has; the ports its managers' rules
    match on, with the other side's where a diff `shared` them)."""
    # opened on `lab` itself: opened on the settings' lab file, then given `lab`, each run
    # checked its rulesets twice (a throwaway world each, ~0.2 s), and a diff's before side
    # checked the after side's lab
    try:
        session = LabSession.open(settings, lab=lab)  # a ruleset that does not load fails here
        try:
            missing = session.missing_feature()
            if missing:
                raise NslabError(f"cannot explore: {missing}")
            session.new_world()
            progress(f"building lab '{lab.name}' in a world on {session.target.name}")
            session.provision()
            explorer = Explorer(session, lambda m: progress(f"{lab.name}: {m}"))
            live = live_ports(session.w, lab)
            if shared is not None:
                live = shared(live)
                if shared.failed:  # the other side failed: its error is the run's, not probed
                    return []
            flows = wanted(lab, extra_flows, [*ports, *live])
            progress(f"{lab.name}: probing {len(flows)} flows")
            return explorer.run(flows)
        finally:
            session.close()
    except BaseException:
        if shared is not None:
            shared.abort()  # the other side's wait for this side's ports ends
        raise


def verdicts(measured: Sequence[Measured]) -> dict[Flow, Verdict]:
    return {m.flow: m.verdict for m in measured}


def both(
    settings: Settings, before: Lab, after: Lab, ports: Iterable[tuple[str, int]] = ()
) -> tuple[list[Measured], list[Measured]]:
    """Both labs measured at once, in two worlds, over the union of their flows."""
    ports = list(ports)
    union = sorted(set(derive(before, ports)) | set(derive(after, ports)))
    shared = Shared()  # both sides probe the ports either side's managers' rules match on
    with ThreadPoolExecutor(max_workers=2) as pool:  # each side's progress lines say which side
        a = pool.submit(measure, settings, before, union, ports, lambda m: say(f"before: {m}"), shared)
        b = pool.submit(measure, settings, after, union, ports, lambda m: say(f"after: {m}"), shared)
        return a.result(), b.result()


def own_of(*labs: Lab) -> dict[str, frozenset[str]]:
    """Every place's own addresses in either lab (a source seen as another was NAT'd)."""
    out: dict[str, frozenset[str]] = {}
    for lab in labs:
        for place, addresses in own_addresses(lab).items():
            out[place] = out.get(place, frozenset()) | addresses
    return out


# --- a lab file as it was at a git revision -------------------------------------------------


def _git(repo: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True)


def at_revision(lab_file: Path, rev: str, into: Path) -> Path:
    """The lab file and every file it names (ruleset files and their nft includes, a ufw or
    firewalld folder, Docker's daemon.json: nslab.reach.lab_paths), as they were at `rev`,
    read with git (nothing is checked out), written below `into` in the same layout; the
    lab file's path there."""
    lab_file = lab_file.resolve()
    top = _git(lab_file.parent, "rev-parse", "--show-toplevel")
    if top.returncode != 0:
        raise ownership_error(top.stderr, lab_file.parent) or LabError(
            f"{lab_file}: not in a git repository", "use --against OTHER.toml, or commit the lab"
        )
    repo = Path(top.stdout.strip())
    if _git(repo, "rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}").returncode != 0:
        raise LabError(f"unknown git revision {rev!r}", "name a branch, tag or commit: --base main")
    rel = lab_file.relative_to(repo)

    def copy(path: PurePosixPath) -> bytes:
        """One file as it was at `rev`, written below `into`; its bytes."""
        r = subprocess.run(["git", "-C", str(repo), "show", f"{rev}:{path.as_posix()}"], capture_output=True)
        if r.returncode != 0:
            raise LabError(
                f"{path} does not exist at {rev}", "pick a revision that has the lab, or use --against"
            )
        (into / path).parent.mkdir(parents=True, exist_ok=True)
        (into / path).write_bytes(r.stdout)
        return r.stdout

    text = copy(PurePosixPath(rel.as_posix()))
    try:
        raw = tomllib.loads(text.decode("utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise LabError(f"{rel} at {rev}: not valid TOML: {exc}") from None
    listed = subprocess.run(
        ["git", "-C", str(repo), "ls-tree", "-r", "-z", "--name-only", rev], capture_output=True, text=True
    )
    tree = {PurePosixPath(p) for p in listed.stdout.split("\0") if p}  # a folder is the files below it
    lab_paths.at_revision(raw, PurePosixPath(rel.as_posix()), tree, copy)
    return into / rel


def base_lab(lab_file: Path, rev: str, scratch: Path) -> Lab:
    """The lab as it was at `rev` (its files below `scratch`, which must outlive it)."""
    return load_lab(at_revision(lab_file, rev, scratch))


def scratch_dir() -> tempfile.TemporaryDirectory[str]:
    return tempfile.TemporaryDirectory(prefix="nslab-diff-")
