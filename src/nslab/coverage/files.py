"""The run's record of rule coverage: each ruleset file's (or manager's) rules with their
hits, as `reports/rule-coverage.json` gives them (the public interface, nslab.coverage.counts)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["FileCoverage", "RuleHits", "relative_name"]


def relative_name(path: Path, to: Path) -> str:
    """A manager's file as the record names it: below `to` (the lab's folder), else whole."""
    try:
        return str(path.resolve().relative_to(to.resolve()))
    except ValueError:
        return str(path)


@dataclass
class RuleHits:
    line: int | None  # None: a script's rule (it has no line of a ruleset file)
    rule: str
    hits: int | None = 0  # None: not counted (the note says why)
    elements: dict[str, int] | None = None  # a rule with a map: each element's hits
    of: str = ""  # whose elements: a named set's or map's (`@portfwd`); "" an anonymous one's
    elements_note: str = ""  # why the elements of its named set or map were not measured

    def as_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"line": self.line, "rule": self.rule, "hits": self.hits}
        if self.elements is not None:
            out["elements"] = [{"element": k, "hits": v} for k, v in self.elements.items()]
        if self.of:
            out["elements_of"] = self.of
        if self.elements_note:
            out["elements_not_measured"] = self.elements_note
        return out

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> RuleHits:
        found = d.get("elements")
        return cls(
            d["line"],
            d["rule"],
            d["hits"],
            None if found is None else {e["element"]: e["hits"] for e in found},
            d.get("elements_of", ""),
            d.get("elements_not_measured", ""),
        )

    def where(self) -> str:
        return f"line {self.line}" if self.line is not None else self.rule


@dataclass
class FileCoverage:
    file: str  # relative to the lab file's folder
    place: str  # the host whose namespace loads it
    lab: str  # the lab file, relative to the run's folder where it can be
    rules: list[RuleHits]
    scenarios: set[str] = field(default_factory=set)
    kind: str = "nft"
    path: str = ""  # the file on this machine (for the HTML page)
    note: str = ""  # why some rules could not be counted
    # scenarios whose nslab-made traffic (the golden-file step's exploration) crossed its
    # rules: no hits, yet such a scenario tells a wrong rule (nslab mutate runs it)
    explored: set[str] = field(default_factory=set)
    known: bool = True  # False: its kind maps no rule to a line and reads none (note: why)
    # a firewall manager's (ufw, firewalld): `file` is what the user wrote its rules in (the
    # lab file's ufw list, user.rules, a zone file), or, `own`, the manager's own rules
    # (ufw's before.rules, firewalld's stock chains), per chain: not the user's, so never
    # in the percentage (nslab.coverage.report)
    manager: str = ""
    own: bool = False

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.lab, self.place, self.file)

    @property
    def measured(self) -> bool:
        """Whether any of its rules was counted: a file none of whose rules nslab could
        count has no coverage to give (never "0 of 0 rules, 100%")."""
        return self.known and (not self.rules or bool(self.counted))

    def as_json(self) -> dict[str, Any]:
        return {
            "file": self.file,
            "place": self.place,
            "lab": self.lab,
            "kind": self.kind,
            "rules": [r.as_json() for r in self.rules],
            "scenarios": sorted(self.scenarios),
            "measured": self.measured,
            "explored_by": sorted(self.explored),
            **({"note": self.note} if self.note else {}),
            **({"path": self.path} if self.path else {}),
            **({"manager": self.manager} if self.manager else {}),
            **({"own": True} if self.own else {}),
        }

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> FileCoverage:
        return cls(
            d["file"], d["place"], d.get("lab", ""), [RuleHits.from_json(r) for r in d["rules"]],
            set(d.get("scenarios", [])), d.get("kind", "nft"), d.get("path", ""), d.get("note", ""),
            set(d.get("explored_by", [])), d.get("measured", True) or bool(d["rules"]),
            d.get("manager", ""), bool(d.get("own")),
        )  # fmt: skip

    def add(self, other: FileCoverage) -> None:
        for mine, theirs in zip(self.rules, other.rules, strict=False):
            mine.hits = None if mine.hits is None or theirs.hits is None else mine.hits + theirs.hits
            if mine.elements is not None and theirs.elements is not None:
                for k, v in theirs.elements.items():
                    mine.elements[k] = mine.elements.get(k, 0) + v
            elif mine.elements is not None or theirs.elements is not None:  # counted in some worlds only
                mine.elements, mine.of = None, ""  # some worlds' count: not the run's
            mine.elements_note = mine.elements_note or theirs.elements_note
        self.scenarios |= other.scenarios
        self.explored |= other.explored
        self.note = self.note or other.note

    @property
    def counted(self) -> list[RuleHits]:
        return [r for r in self.rules if r.hits is not None]

    @property
    def covered(self) -> list[RuleHits]:
        return [r for r in self.rules if r.hits]
