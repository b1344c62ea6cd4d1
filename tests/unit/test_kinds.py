"""Firewall kinds as plugins (nslab.firewall): one module a kind, one registry line, a
default implementation that says what it does not know, and no module outside the
package that branches on a kind's name. Pure logic: no world is built."""

from __future__ import annotations

import ast
import dataclasses
from pathlib import Path
from typing import ClassVar

import pytest
from conftest import ROOT

from nslab import firewall
from nslab.commands import Result
from nslab.coverage.counts import Coverage, FileCoverage
from nslab.coverage.report import summary
from nslab.firewall import mutants, sources
from nslab.firewall.evidence import Decision
from nslab.firewall.iptables import Iptables
from nslab.firewall.kind import Kind
from nslab.firewall.places import dnat_addresses, file_tool, firewall_places
from nslab.firewall.rulesets import check_file
from nslab.lab import RulesetFile, load_lab
from nslab.lab.model import RULESET_FRONTS, RULESET_KINDS
from nslab.reach import flows

DMZ = ROOT / "labs" / "dmz.toml"
KIND_NAMES = {"nft", "iptables", "ip6tables", "script", "nftables", "legacy"}


class Opaque(Kind):
    """A kind that provides only how its file is loaded and checked: every other answer
    is the default's."""

    name: ClassVar[str] = "opaque"
    load: ClassVar[tuple[str, ...]] = ("opaque-load",)


class Ufwish(Iptables):
    """A manager whose rules land in iptables' tables: reads as iptables, made by ufw."""

    name: ClassVar[str] = "ufwish"
    made_by: ClassVar[str] = "ufw"


class Refuses:
    """A runner for a check that must run nothing (pure logic: no command is wanted)."""

    provision_dir = ""

    def run(self, *args: object, **kwargs: object) -> Result:
        raise AssertionError(f"ran {args}")


@pytest.fixture
def registered(monkeypatch: pytest.MonkeyPatch) -> None:
    """The two test kinds, each one line in the registry (as a new module would add)."""
    monkeypatch.setitem(firewall.KINDS, Opaque.name, Opaque())
    monkeypatch.setitem(firewall.KINDS, Ufwish.name, Ufwish())


def test_the_lab_model_names_the_registry_kinds() -> None:
    # the lab file is read without the firewall package: its names must be the registry's
    assert tuple(firewall.KINDS) == RULESET_KINDS
    assert {name: k.front for name, k in firewall.KINDS.items()} == RULESET_FRONTS
    assert firewall.RULESETS["iptables"].loader("legacy") == ("iptables-legacy-restore", "--wait=30")


def test_a_kind_that_knows_little_says_what_it_cannot_know(registered: None, tmp_path: Path) -> None:
    rules = tmp_path / "edge.opaque"
    rules.write_text("allow tcp 22 from 192.0.2.80\n")
    lab = load_lab(DMZ)
    edge = next(h for h in lab.hosts if h.name == "edge")
    lab = dataclasses.replace(
        lab, hosts=tuple(dataclasses.replace(h, rulesets=(RulesetFile("opaque", rules),)) if h is edge else h
                         for h in lab.hosts)
    )  # fmt: skip
    kind = firewall.get_kind("opaque")
    assert (kind.rules(rules.read_text()), kind.ports(rules.read_text()), kind.check_static(rules)) == (
        None,
        [],
        None,
    )
    # no check given: nothing is run before the rulesets stage loads it
    assert check_file(Refuses(), "opaque", rules, "/run/nslab/rulesets/edge-opaque") is None
    said = kind.problem("opaque-check: line 1: unknown word allow", rules.read_text(), rules, None)
    assert (said.line, said.what) == (1, "unknown word allow")
    # explore probes no port of it, DNATs none of its addresses, nslab mutate makes no mutant
    assert flows.lab_ports(lab) == []
    # ... and says so (a kind that reads no ports would have explore probe only ICMP, silently)
    assert flows.unread_ports(lab) == [
        "edge's edge.opaque (opaque): nslab reads no ports in this kind of file, so the flows its "
        "rules decide were probed with ICMP and the ports of [explore] ports or --ports only"
    ]
    assert all(firewall.get_kind(n).knows_ports() for n in ("nft", "iptables", "ip6tables", "script"))
    assert flows.unread_ports(load_lab(DMZ)) == []
    assert dnat_addresses(lab) == {}
    assert mutants.of_lab(lab, DMZ) == []
    assert sources.of_file("edge", "opaque", rules) == {}
    # read as the lab's backend (nftables) reads the host; rule coverage: not measured, and why
    edge = next(h for h in lab.hosts if h.name == "edge")
    assert file_tool(lab, edge, "opaque") == "nft"
    assert "edge:nft" in firewall_places(lab)
    (cov,) = [p.cov for p in Coverage()._places(lab, tmp_path / "lab.toml")]  # files named from its folder
    assert not cov.measured
    assert cov.as_json()["measured"] is False
    coverage = Coverage()
    coverage.files[cov.key] = cov
    assert summary(coverage) == [
        "rule coverage: edge.opaque (edge) not measured: "
        "nslab does not know which line of this opaque file made which rule"
    ]
    # the kinds nslab ships know and count: no note, measured (a kind added later may not)
    assert [firewall.get_kind(n).not_counted() for n in ("nft", "iptables", "ip6tables", "script")] == [
        ""
    ] * 4
    assert (
        firewall.get_kind("nobody-wrote-it")
        .not_counted()
        .endswith("of this nobody-wrote-it file made which rule")
    )
    assert not FileCoverage.from_json(cov.as_json()).measured  # summed runs keep it so


def test_a_manager_kind_reads_as_iptables_and_names_what_made_the_rule(
    registered: None, tmp_path: Path
) -> None:
    rules = tmp_path / "user.rules"
    rules.write_text(
        "*filter\n:ufw-user-input - [0:0]\n-A ufw-user-input -p tcp --dport 22 -j ACCEPT\nCOMMIT\n"
    )
    kind = firewall.get_kind("ufwish")
    assert (kind.tool("nft"), kind.tool("legacy")) == ("iptables", "legacy")  # the iptables readers
    assert kind.ports(rules.read_text()) == [("tcp", 22)]
    written = sources.of_file("server", "ufwish", rules)
    assert [w.made_by for w in written[("server", "filter", "ufw-user-input")]] == ["ufw"]
    d = Decision("server", "filter", "ufw-user-input", 1, "ACCEPT", "-p tcp --dport 22 -j ACCEPT", 1, of=1)
    assert sources.attach(d, written).describe(counted=False).endswith("at user.rules:3 (made by ufw)")
    # a file's own kind names no maker: the evidence line is as it was
    plain = sources.of_file("server", "iptables", rules)
    assert sources.attach(d, plain).describe(counted=False).endswith("at user.rules:3")


def _kind_compares(path: Path) -> list[int]:
    """Lines comparing a `kind` with a kind's name ("nft", ("iptables", "ip6tables") ...),
    or anything with a ruleset kind's name, whatever the variable is called (a lab file's
    `key == "nft"` is the same branch)."""

    def names(node: ast.expr) -> set[str]:
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            return {node.value}
        if isinstance(node, ast.Tuple | ast.List | ast.Set):
            return {v for e in node.elts for v in names(e)}
        return set()

    def is_kind(node: ast.expr) -> bool:
        return (isinstance(node, ast.Attribute) and node.attr == "kind") or (
            isinstance(node, ast.Name) and node.id == "kind"
        )

    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Compare):
            sides = [node.left, *node.comparators]
            named = set().union(*(names(s) for s in sides))
            if (any(is_kind(s) for s in sides) and named & KIND_NAMES) or named & set(RULESET_KINDS):
                found.append(node.lineno)
    return found


def test_no_module_outside_the_firewall_package_branches_on_a_kind_name() -> None:
    package = ROOT / "src" / "nslab" / "firewall"
    found = {
        str(p.relative_to(ROOT)): lines
        for p in sorted((ROOT / "src" / "nslab").rglob("*.py"))
        if not p.is_relative_to(package) and (lines := _kind_compares(p))
    }
    assert found == {}, "ask the kind (nslab.firewall.get_kind) instead"


def test_the_kind_modules_and_the_parsers_stay_small() -> None:
    big = {
        str(p.relative_to(ROOT)): n
        for p in [ROOT / "src" / "nslab" / "parse.py", *(ROOT / "src" / "nslab" / "firewall").glob("*.py")]
        if (n := len(p.read_text().splitlines())) > 450
    }
    assert big == {}


def test_the_summary_says_where_the_rules_it_leaves_out_are() -> None:
    """A new user read "never matched: ... and 2 more" as two rules lost: the line names
    the file that lists them all."""
    from nslab.coverage.counts import FileCoverage, RuleHits

    rules = [RuleHits(n, f"tcp dport {n} accept", 0) for n in range(10, 15)] + [RuleHits(9, "accept", 3)]
    cov = Coverage()
    f = FileCoverage("web.nft", "web", "lab.toml", rules)
    cov.files[f.key] = f
    (line,) = summary(cov)
    assert line.startswith("rule coverage: web.nft (web) 1/6 rules (17%); never matched: line 10 ")
    assert line.endswith(", line 12 (tcp dport 12 accept) and 2 more (all in rule-coverage.json)")
