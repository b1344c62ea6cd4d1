"""Firewall manager kinds as plugins (nslab.managers.kind): one module a kind, one line of
the registry nslab.managers.common.KINDS (and its lab-file row, nslab.lab.managers), and no
module outside the kind modules that branches on a manager's name: each caller asks the
kind. Pure logic: no world is built."""

from __future__ import annotations

import ast
import dataclasses
import importlib
import sys
import types
from collections.abc import Mapping, Sequence
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import ROOT

from nslab.cli import main
from nslab.commands import Runner
from nslab.coverage import managed
from nslab.coverage.counts import Coverage
from nslab.coverage.files import FileCoverage, RuleHits
from nslab.coverage.mutate_managers import check_managers, of_lab
from nslab.coverage.report import share
from nslab.errors import LabError
from nslab.firewall.evidence import Decision
from nslab.firewall.mutants import Mutant
from nslab.firewall.places import firewall_places
from nslab.lab import Host, Lab, load_lab
from nslab.lab import managers as lab_managers
from nslab.managers import common
from nslab.managers.kind import ManagerKind
from nslab.managers.mutants import Unmade

# the modules that are a kind: the only ones that may say a manager's name in a branch
KIND_MODULES = {"src/nslab/managers/ufw.py", "src/nslab/managers/firewalld.py"}
# what holds a manager's name: `kind`, `host.manager.kind`, a coverage file's or a
# mutant's `manager` ("ufw"; "" for a ruleset file's)
NAME_HOLDERS = {"kind", "manager", "manager_kind"}

LAB = """
[lab]
name = "k"
[[network]]
name = "lan"
bridge = "br-lan"
subnet = "10.7.0.0/24"
[[host]]
name = "web"
interfaces = [{ network = "lan", address = "10.7.0.20" }]
firewall = { zonewall = "web-zones" }
[[host]]
name = "pc"
interfaces = [{ network = "lan", address = "10.7.0.30" }]
"""


def _manager_compares(path: Path, names: set[str]) -> list[int]:
    """Lines comparing (or matching) a manager's name with a manager kind's name."""

    def literals(node: ast.AST) -> set[str]:
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            return {node.value}
        if isinstance(node, ast.Tuple | ast.List | ast.Set):
            return {v for e in node.elts for v in literals(e)}
        if isinstance(node, ast.MatchValue):
            return literals(node.value)
        if isinstance(node, ast.MatchOr):
            return {v for p in node.patterns for v in literals(p)}
        return set()

    def holds_name(node: ast.AST) -> bool:
        word = node.attr if isinstance(node, ast.Attribute) else node.id if isinstance(node, ast.Name) else ""
        return word in NAME_HOLDERS

    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Compare):
            sides = [node.left, *node.comparators]
            if any(holds_name(s) for s in sides) and set().union(*(literals(s) for s in sides)) & names:
                found.append(node.lineno)
        elif (
            isinstance(node, ast.Match)
            and holds_name(node.subject)
            and any(literals(case.pattern) & names for case in node.cases)
        ):
            found.append(node.lineno)
    return sorted(found)


def test_no_module_outside_the_kind_modules_branches_on_a_manager_name() -> None:
    names = set(common.KINDS)
    found = {
        rel: lines
        for p in sorted((ROOT / "src" / "nslab").rglob("*.py"))
        if (rel := str(p.relative_to(ROOT))) not in KIND_MODULES and (lines := _manager_compares(p, names))
    }
    assert found == {}, "ask the kind (nslab.managers.common.KINDS[name]) instead"


def test_the_check_sees_a_manager_name_branch(tmp_path: Path) -> None:
    """The walk above finds each way a branch was written before the kinds answered."""
    code = tmp_path / "old.py"
    code.write_text(
        'a = host.manager.kind == "firewalld"\n'
        'b = "elements" if f.manager == "firewalld" else "rules"\n'
        'c = kind in ("ufw", "other")\n'
        'match m.manager:\n    case "ufw":\n        pass\n'
        'd = argv[0] == "ufw"\n'  # a command's word, not a manager's name
    )
    assert _manager_compares(code, {"ufw", "firewalld"}) == [1, 2, 3, 4]


def test_the_lab_rows_and_the_registry_name_the_same_kinds() -> None:
    # the lab file is read without the managers package: its rows must be the registry's
    assert list(lab_managers.MANAGERS) == list(common.KINDS)
    for kind in common.KINDS.values():  # each kind's coverage reader is there, with its entry
        assert callable(importlib.import_module(kind.coverage).place_of)


def _zones_mutants(folder: Path, lab_dir: Path, hosts: str) -> tuple[list[Mutant], list[Unmade]]:
    zone = folder / "public.zone"
    return [Mutant(zone, "web-zones/public.zone", 2, "port 22 removed", "", 2, "", hosts, "zonewall")], []


def _zones_refusals(found: Mapping[int, tuple[Mutant, Lab]], scratch: Runner) -> dict[int, str]:
    return {n: f"zonewall refuses {m.name}" for n, (m, _) in found.items()}


def _zones_check(hosts: Sequence[Host], path: str, world: object) -> str:
    return f"; zonewall folders of {', '.join(h.name for h in hosts)} checked by zonewall"


ZONEWALL = ManagerKind(
    name="zonewall",
    commands=("zonewall-cmd",),
    listings=(("nft", "list", "ruleset"),),
    syntax="nft",
    counts=False,
    bus=True,
    noun="zone rules",
    checks=(_zones_check,),
    folder_mutants=_zones_mutants,
    refusals=_zones_refusals,
)


@pytest.fixture
def zonewall(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """A third manager kind, made up here: one registry line and its lab row, as a new
    module would add; and a lab whose host web runs it."""
    monkeypatch.setitem(common.KINDS, ZONEWALL.name, ZONEWALL)
    row = lab_managers.ManagerKey("zonewall", "/etc/zonewall", "nft", '"FOLDER"')
    monkeypatch.setitem(lab_managers.MANAGERS, row.name, row)
    (tmp_path / "web-zones").mkdir()
    (tmp_path / "lab.toml").write_text(LAB)
    return tmp_path / "lab.toml"


def test_a_made_up_kind_is_taken_by_every_caller(zonewall: Path) -> None:
    lab = load_lab(zonewall)
    web = lab.namespace("web")
    assert web.manager is not None and web.manager.kind == "zonewall"
    assert firewall_places(lab)[-1] == "web:nft"  # read with the tool of its lab row
    # its private bus for the host's commands; its own command refused elsewhere, by name
    assert common.env_for(lab, web) == {"DBUS_SYSTEM_BUS_ADDRESS": common.bus_address("web")}
    with pytest.raises(LabError, match=r"pc does not run zonewall, so `zonewall-cmd`"):
        common.command_owner(lab, "pc", ["zonewall-cmd", "--list"])
    # its folder's mutants are its maker's, and its check of them is its own
    found, unmade = of_lab(lab, zonewall)
    assert ([m.mutation for m in found], unmade) == (["port 22 removed"], [])
    said = check_managers({7: (found[0], lab)}, object())  # type: ignore[arg-type]
    assert said == {7: "zonewall refuses web-zones/public.zone"}
    # rule coverage counts in its noun, and says it has no reader of its rules
    cov = FileCoverage("web-zones/public.zone", "web", "k", [RuleHits(2, "port 22", 1)], manager="zonewall")
    assert share(cov) == "1/1 zone rules (100%)"
    (place,) = managed.places(None, lab, zonewall, "k", managed.Parsed())  # type: ignore[arg-type]
    (unread,) = place.end("s")
    assert (unread.file, unread.note) == ("zonewall (not read)", "nslab has no reader of zonewall's rules")


class ZonesPlace:
    """The made-up kind's coverage reader's place: what the run asked of it."""

    def __init__(self, host: str) -> None:
        self.asked: list[str] = []
        self.cov = FileCoverage(
            "web-zones/public.zone", host, "k", [RuleHits(2, "port 22", 0)], manager="zonewall"
        )

    def traced(self, decisions: list[Decision]) -> None:
        self.asked.append("traced")
        self.cov.rules[0].hits = (self.cov.rules[0].hits or 0) + len(decisions)

    def fold(self, world: object) -> None:
        self.asked.append("fold")

    def resume(self, world: object) -> None:
        self.asked.append("resume")

    def end(self, scenario: str) -> list[FileCoverage]:
        self.asked.append("end")
        return [self.cov]


def test_a_made_up_kinds_coverage_reader_is_asked_as_ufws_and_firewallds_are(
    zonewall: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    made: list[ZonesPlace] = []

    def place_of(world: object, lab: Lab, host: Host, *rest: object) -> ZonesPlace:
        made.append(ZonesPlace(host.name))
        return made[-1]

    # its reader: a module of the coverage layer, named by the kind, imported by coverage
    monkeypatch.setitem(sys.modules, "nslab_test_zonewall_cov", types.SimpleNamespace(place_of=place_of))
    kind = dataclasses.replace(ZONEWALL, coverage="nslab_test_zonewall_cov")
    monkeypatch.setitem(common.KINDS, "zonewall", kind)
    cov = Coverage()
    cov.begin(None, load_lab(zonewall), zonewall)  # type: ignore[arg-type]
    d = Decision(
        "web", "inet zonewall", "filter_IN_public_allow", 1, "accept", "tcp dport 22 accept", 1, of=1
    )
    cov.traced([d])
    with cov.paused(None):  # type: ignore[arg-type]
        pass
    cov.end(None, "s")  # type: ignore[arg-type]
    assert made[0].asked == ["traced", "fold", "resume", "fold", "end"]
    (kept,) = cov.files.values()
    assert (kept.file, kept.rules[0].hits, kept.scenarios) == ("web-zones/public.zone", 1, set())


def test_a_made_up_kind_without_a_maker_says_it_makes_no_mutant(
    zonewall: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(common.KINDS, "zonewall", ManagerKind("zonewall", (), (), "nft", counts=False))
    found, unmade = of_lab(load_lab(zonewall), zonewall)
    assert found == []
    assert [u.words() for u in unmade] == [
        "web-zones:0: zonewall's rules: nslab makes no mutant of zonewall's rules"
    ]


def test_validate_runs_a_made_up_kinds_checks(zonewall: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(zonewall.parent)
    said = CliRunner().invoke(main, ["validate", "lab.toml"])
    assert said.exit_code == 0, said.output
    assert said.output.rstrip().endswith("; zonewall folders of web checked by zonewall")
