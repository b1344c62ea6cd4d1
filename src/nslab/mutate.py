"""Ruleset mutation: would the scenarios notice if a rule were wrong?

For each rule of the lab's ruleset files, mutants: the rule deleted; its verdict turned
(accept <-> drop, reject -> accept); each port it matches moved by one either way; an
address match negated. Each mutant is the lab file and its ruleset files copied to a
scratch folder with one line changed (the user's files are never touched); a mutant
that does not load (nft -c, iptables-restore in a throwaway world, as `nslab validate`
checks) is `invalid`, never killed. The others run the scenarios whose rule coverage
touched the mutated file (a first, unmutated run tells which; it must pass), in behave
processes that stop at the first red scenario: `killed` if one turned red, `survived`
if none did. The public interface: the last line `mutation score: K of N mutants killed`
(N: the mutants that loaded), and `--format json`: every mutant as {file, line,
mutation, status}.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from nslab import rulemap
from nslab.coverage import Coverage
from nslab.errors import NslabError
from nslab.lab import Lab, load_lab
from nslab.lab.files import LAB_AS
from nslab.rulesets import with_included

KINDS = ("nft", "iptables", "ip6tables")  # a user's script has no rules to mutate by line


@dataclass(frozen=True)
class Mutant:
    file: Path  # the ruleset file (absolute)
    name: str  # as the lab file names it
    line: int
    mutation: str  # `deleting "tcp dport 22 accept"`, `accept -> drop`, `port 443 -> 444` ...
    text: str  # the whole mutated file

    def words(self) -> str:
        return f"{self.name}:{self.line}: {self.mutation}"


# --- making mutants (pure) ------------------------------------------------------------------

_NFT_VERDICT = re.compile(r"\b(accept|drop|reject(?: with [\w-]+(?: type)? [\w-]+)?)(?=\s*(?:comment\b.*)?$)")
_IPT_VERDICT = re.compile(r"-j (ACCEPT|DROP|REJECT(?: --reject-with \S+)?)\b")
_NFT_PORTS = re.compile(r"\b(?:dport|sport) (?:!= )?(\{[^}]*\}|\d+)")
_IPT_PORTS = re.compile(r"--(?:dport|sport|dports|sports) (\S+)")
_NFT_ADDRESS = re.compile(r"\b(ip6? (?:saddr|daddr)) (?!!=)([0-9a-fA-F:.]+(?:/\d+)?)")
_IPT_ADDRESS = re.compile(r"(?<!! )(-[sd]) (\S+)")


def _turned(verdict: str, nft: bool) -> str:
    word = verdict.split()[0]
    if nft:
        return {"accept": "drop", "drop": "accept"}.get(word, "accept")
    return {"ACCEPT": "DROP", "DROP": "ACCEPT"}.get(word, "ACCEPT")


def line_mutants(line: str, nft: bool) -> list[tuple[str, str]]:
    """(mutation, mutated line) for one rule's line; the deletion apart (see `mutants`).

    >>> [m for m, _ in line_mutants("    tcp dport { 443, 5432 } counter accept", nft=True)]
    ['accept -> drop', 'port 443 -> 442', 'port 443 -> 444', 'port 5432 -> 5431', 'port 5432 -> 5433']
    >>> line_mutants("-A INPUT -s 10.0.0.0/8 -j DROP", nft=False)[1]
    ('-s 10.0.0.0/8 negated', '-A INPUT ! -s 10.0.0.0/8 -j DROP')
    """
    body, hash_, comment = line.partition("#") if nft else (line, "", "")
    out: list[tuple[str, str]] = []
    verdicts = list((_NFT_VERDICT if nft else _IPT_VERDICT).finditer(body))
    if verdicts:
        v = verdicts[-1]
        said = v[1]
        new = _turned(said, nft)
        start, end = v.span(1)
        out.append((f"{said.split()[0]} -> {new}", body[:start] + new + body[end:] + hash_ + comment))
    for m in (_NFT_PORTS if nft else _IPT_PORTS).finditer(body):
        for p in re.finditer(r"\d+", m[1]):
            port = int(p[0])
            for moved in (port - 1, port + 1):
                if 0 < moved < 65536:
                    a, b = m.start(1) + p.start(), m.start(1) + p.end()
                    out.append(
                        (f"port {port} -> {moved}", body[:a] + str(moved) + body[b:] + hash_ + comment)
                    )
    for m in (_NFT_ADDRESS if nft else _IPT_ADDRESS).finditer(body):
        new_text = f"{m[1]} != {m[2]}" if nft else f"! {m[1]} {m[2]}"
        out.append(
            (f"{m[1]} {m[2]} negated", body[: m.start()] + new_text + body[m.end() :] + hash_ + comment)
        )
    return out


def mutants(path: Path, kind: str, name: str) -> list[Mutant]:
    """Every mutant of one ruleset file, rule by rule in file order."""
    text = path.read_text()
    lines = text.splitlines(keepends=True)
    nft = kind == "nft"
    rules = rulemap.nft_rules(text) if nft else rulemap.iptables_rules(text, v6=kind == "ip6tables")
    out = []
    for rule in sorted(rules, key=lambda r: r.line):
        i = rule.line - 1
        ending = "\n" if lines[i].endswith("\n") else ""
        shown = rulemap.rule_words(rule)
        changed = [
            (f'deleting "{shown}"', ending),
            *((m, new + ending) for m, new in line_mutants(lines[i].rstrip("\n"), nft)),
        ]
        for mutation, new_line in changed:
            mutated = "".join([*lines[:i], new_line, *lines[i + 1 :]])
            out.append(Mutant(path, name, rule.line, mutation, mutated))
    return out


def of_lab(lab: Lab, lab_path: Path) -> list[Mutant]:
    """Every mutant of every ruleset file the lab gives a host."""
    out = []
    seen: set[Path] = set()
    for host in lab.hosts:
        for r in host.rulesets:
            if r.kind not in KINDS or r.path.resolve() in seen:
                continue
            seen.add(r.path.resolve())
            out.extend(mutants(r.path, r.kind, os.path.relpath(r.path.resolve(), lab_path.resolve().parent)))
    return out


def shard(items: Sequence[Mutant], k: int, n: int) -> list[Mutant]:
    """Share K of N (1-based): every Nth mutant, so each shard gets every kind of them."""
    return [m for i, m in enumerate(items) if i % n == k - 1]


# --- running them ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Result:
    mutant: Mutant
    status: str  # killed, survived, invalid
    why: str = ""  # invalid: the load error; killed: the scenario that turned red

    def as_json(self) -> dict[str, object]:
        m = self.mutant
        return {
            "file": m.name,
            "line": m.line,
            "mutation": m.mutation,
            "status": self.status,
            "why": self.why,
        }


_FAILED = re.compile(r"^Failing scenarios:\s*\n\s+(\S+)", re.M)
_COUNTS = re.compile(r"(\d+) scenarios? passed, (\d+) failed, (\d+) skipped(?:, (\d+) error)?")


class Mutator:
    """Mutants of one lab run against the scenarios, `jobs` at a time."""

    def __init__(
        self,
        lab_path: Path,
        features: Sequence[str],
        jobs: int,
        behave_args: Sequence[str] = (),
        progress: Callable[[str], None] | None = None,
    ) -> None:
        self.lab_path = lab_path.resolve()
        self.lab = load_lab(self.lab_path)
        self.features = list(features)
        self.jobs = jobs
        self.behave_args = list(behave_args)
        self.progress = progress or (lambda _: None)
        self.scratch = Path(tempfile.mkdtemp(prefix="nslab-mutate-"))

    def close(self) -> None:
        shutil.rmtree(self.scratch, ignore_errors=True)

    def _behave(
        self, paths: Sequence[str], reports: Path, env: dict[str, str], coverage: bool
    ) -> subprocess.CompletedProcess[str]:
        argv = [
            sys.executable, "-m", "behave", "--stop", "--no-junit", "-f", "plain", "--no-capture",
            "-D", f"reports={reports}", "-D", "html=", "-D", f"rule_coverage={'on' if coverage else 'off'}",
            "-D", "rule_coverage_min=0", *self.behave_args, *paths,
        ]  # fmt: skip
        return subprocess.run(
            argv, capture_output=True, text=True, env={**os.environ, **env}, stdin=subprocess.DEVNULL
        )

    def covering(self) -> dict[Path, list[str]]:
        """The unmutated run: it must pass; which scenarios reach each ruleset file."""
        reports = self.scratch / "unmutated"
        self.progress(f"running the scenarios unmutated: {' '.join(self.features)}")
        done = self._behave(self.features, reports, {}, coverage=True)
        if done.returncode != 0:
            tail = "\n".join((done.stdout + done.stderr).strip().splitlines()[-12:])
            raise NslabError(
                f"the scenarios fail before any mutation, so no mutant can be judged:\n{tail}",
                "make them pass first (behave " + " ".join(self.features) + ")",
            )
        cov = Coverage.load([reports / "rule-coverage.json"])
        out: dict[Path, list[str]] = {}
        for f in cov.files.values():
            if f.path and Path(f.lab).resolve() == self.lab_path:
                out.setdefault(Path(f.path).resolve(), []).extend(sorted(f.scenarios))
        return out

    def _copy(self, n: int, mutant: Mutant) -> Path:
        """The lab file and its ruleset files under a scratch folder, in their own layout
        (absolute paths mirrored, so every relative path of the lab file still holds),
        the mutated file in place of the user's."""
        files = {self.lab_path}
        for r in (r for h in self.lab.hosts for r in h.rulesets):  # and the files they include
            files.update(f.resolve() for f in with_included(r.kind, r.path))
        for f in files:
            dest = self._mirror(n, f)
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(f, dest)
        self._mirror(n, mutant.file).write_text(mutant.text)
        return self._mirror(n, self.lab_path)

    def _mirror(self, n: int, path: Path) -> Path:
        """Where mutant `n`'s copy of a file lies."""
        path = path.resolve()
        return self.scratch / f"m{n}" / path.relative_to(path.anchor)

    def invalid(self, mutants: Sequence[Mutant]) -> dict[int, str]:
        """Which mutants do not load, and the one line why (in one throwaway world)."""
        from nslab.config import Settings
        from nslab.provision import check_rulesets
        from nslab.targets import open_target
        from nslab.world import World

        out = {}
        target = open_target(Settings(), {})
        try:
            with World.start(target) as scratch:
                for n, m in enumerate(mutants):
                    try:
                        check_rulesets(scratch, load_lab(self._copy(n, m)))
                    except NslabError as exc:  # named by the user's file, not the scratch copy
                        copy = self._mirror(n, m.file)
                        out[n] = str(exc).splitlines()[0].replace(str(copy), m.name)
        finally:
            target.close()
        return out

    def run(self, mutants: Sequence[Mutant]) -> list[Result]:
        covering = self.covering()
        self.progress(f"checking that {len(mutants)} mutants load")
        bad = self.invalid(mutants)
        results: list[Result | None] = [None] * len(mutants)
        for n, why in bad.items():
            results[n] = Result(mutants[n], "invalid", why)
        todo = [n for n in range(len(mutants)) if n not in bad]
        done = 0

        def one(n: int) -> Result:
            m = mutants[n]
            scenarios = covering.get(m.file.resolve(), [])
            if not scenarios:
                return Result(m, "survived", "no scenario reaches this file")
            env = {LAB_AS: f"{self.lab_path}={self._mirror(n, self.lab_path)}"}  # copied by invalid()
            r = self._behave(scenarios, self.scratch / f"m{n}" / "reports", env, coverage=False)
            text = r.stdout + r.stderr
            counts = _COUNTS.search(text)
            if r.returncode == 0:
                return Result(m, "survived")
            red = _FAILED.search(text)
            if counts is None and red is None:
                tail = " / ".join(text.strip().splitlines()[-3:])
                raise NslabError(
                    f"mutant {m.words()} could not run: {tail}", "run its scenarios by hand to see why"
                )
            return Result(m, "killed", red[1] if red else "a scenario turned red")

        with ThreadPoolExecutor(max_workers=self.jobs) as pool:
            for n, result in zip(todo, pool.map(one, todo), strict=True):
                results[n] = result
                done += 1
                self.progress(f"{done} of {len(todo)} mutants run: {result.mutant.words()}: {result.status}")
        return [r for r in results if r is not None]


def score(results: Sequence[Result]) -> str:
    killed = sum(r.status == "killed" for r in results)
    judged = sum(r.status in ("killed", "survived") for r in results)
    return f"mutation score: {killed} of {judged} mutants killed"


def text_report(results: Sequence[Result]) -> list[str]:
    """Every survivor and invalid mutant in words; the score last."""
    out = []
    for r in results:
        if r.status == "survived":
            why = f" ({r.why})" if r.why else ""
            out.append(f"{r.mutant.name}:{r.mutant.line}: {r.mutant.mutation} turns no scenario red{why}")
    for r in results:
        if r.status == "invalid":
            out.append(f"{r.mutant.name}:{r.mutant.line}: {r.mutant.mutation} does not load: {r.why}")
    invalid = sum(r.status == "invalid" for r in results)
    if invalid:
        out.append(f"{invalid} mutant(s) did not load and are not scored")
    out.append(score(results))
    return out


def as_json(results: Sequence[Result]) -> str:
    return json.dumps([r.as_json() for r in results], indent=1)
