"""What the corpus tests share (tests/netns/test_corpus_*.py): nslab's command, explore's rows
keyed as the tests name flows, and the waits a loaded machine needs."""

from __future__ import annotations

import contextlib
import json
import shutil
import subprocess
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path

from conftest import ROOT, host_snapshot

from nslab.scenario.session import LabSession
from support.labs import provisioned

NSLAB = [sys.executable, "-m", "nslab.cli"]
PATIENT = ("-D", "ping_wait=1", "-D", "probe_wait=1")  # a loaded machine answers late
Key = tuple[str, str, str, str]


def nslab(*args: str, cwd: Path | None = ROOT, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*NSLAB, *args], cwd=cwd, capture_output=True, text=True, timeout=timeout)


def by_flow(rows: list[dict[str, str]]) -> dict[Key, dict[str, str]]:
    """Each row by (from, to, service, family), `to` the place (its first address: the
    first row explore gives) and PLACE@ADDRESS for each of its addresses (`router@198.51.100.1`,
    the uplink's, as to_address says)."""
    out: dict[Key, dict[str, str]] = {}
    for r in rows:
        out.setdefault((r["from"], r["to"], r["service"], r["family"]), r)
        if r.get("to_address"):
            out[(r["from"], f"{r['to']}@{r['to_address']}", r["service"], r["family"])] = r
    return out


def explore(lab: Path) -> dict[Key, dict[str, str]]:
    """`nslab explore` of the lab with patient waits, its rows by flow; the host untouched."""
    before = host_snapshot()
    r = nslab("explore", "--lab", str(lab), "--format", "json", *PATIENT)
    assert r.returncode == 0, r.stderr
    assert host_snapshot() == before
    return by_flow(json.loads(r.stdout))


@contextlib.contextmanager
def built(lab: Path, listeners: Iterable[tuple[str, int]]) -> Iterator[LabSession]:
    """The lab built once in a world, counting on as behave's hooks do (nslab's count stands
    in for a rule's missing counter), with tcp listeners (host, port), patient waits; the
    host untouched after."""
    before = host_snapshot()
    with provisioned(lab, counting=True, ping_wait=1, probe_wait=1) as session:
        for host, port in listeners:
            session.listen(host, "tcp", port)
        yield session
    assert host_snapshot() == before


def row_is(row: dict[str, str], outcome: str, words: str, seen_from: str | None = None) -> None:
    """An explore row's outcome, the words its deciding rule must hold, and (given) the
    source the destination saw."""
    assert row["outcome"] == outcome and words in row["decided_by"], row
    if seen_from is not None:
        assert row["seen_from"] == seen_from, row


def shellcheck_clean(script: Path) -> None:
    """A corpus generator (make.sh) passes shellcheck, where shellcheck is installed."""
    if shutil.which("shellcheck"):
        r = subprocess.run(["shellcheck", str(script)], capture_output=True, text=True)
        assert r.returncode == 0, r.stdout
