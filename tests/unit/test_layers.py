"""The package tree is the pipeline: each layer imports only layers below it.

    base      errors, paths, commands, tools, parse; ontarget/ (programs run on the target)
    lab/      the lab model and its files
    firewall/ firewall kinds: checking, loading, mapping and counting a ruleset
    machine/  targets, worlds, provision stages, doctor; config (run settings); managers/
    probe/    checks, TCP/UDP/ICMP probes, the matrix, nftables' trace, places
    scenario/ the lab session of a scenario
    reach/    flows, explore, golden files, diff, landing
    coverage/ rule coverage, its reports, mutate
    report/   HTML, JUnit, diagnostics, diagrams
    runner/   selection, parallel workers, shards
    top       behave/ (steps and hooks), cli/, scaffold/

A module may import its own layer and any layer below it; an import upward (lazy ones
inside functions included) fails here, as does any cycle (tests/unit/test_lint.py). There
are no exceptions (the move's list of upward imports to take out was emptied, and gone).
"""

from __future__ import annotations

import ast
import importlib
import re

from conftest import ROOT

LAYERS = [
    [
        "nslab",
        "nslab.errors",
        "nslab.paths",
        "nslab.commands",
        "nslab.tools",
        "nslab.parse",
        "nslab.ontarget",
    ],
    ["nslab.lab"],
    ["nslab.firewall"],
    ["nslab.machine", "nslab.config", "nslab.managers"],
    ["nslab.probe"],
    ["nslab.scenario"],
    ["nslab.reach"],
    ["nslab.coverage"],
    ["nslab.report"],
    ["nslab.runner"],
    ["nslab.behave", "nslab.cli", "nslab.scaffold"],
]


def layer_of(module: str) -> int:
    best, found = -1, -1
    for i, names in enumerate(LAYERS):
        for name in names:
            if (module == name or module.startswith(name + ".")) and len(name) > best:
                best, found = len(name), i
    assert found >= 0, f"{module} is in no layer: add it to LAYERS in {__file__}"
    return found


def imports() -> dict[str, set[str]]:
    src = ROOT / "src"
    paths = {
        ".".join(p.relative_to(src).with_suffix("").parts).removesuffix(".__init__"): p
        for p in src.rglob("*.py")
    }
    graph: dict[str, set[str]] = {}
    for module, path in paths.items():
        found: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("nslab"):
                for alias in node.names:
                    sub = f"{node.module}.{alias.name}"
                    found.add(sub if sub in paths else node.module)
            elif isinstance(node, ast.Import):
                found.update(a.name for a in node.names if a.name.startswith("nslab"))
        graph[module] = {d for d in found if d in paths and d != module}
    return graph


def upward() -> set[tuple[str, str]]:
    return {
        (module, dep)
        for module, deps in imports().items()
        for dep in deps
        if layer_of(dep) > layer_of(module)
    }


def test_no_layer_imports_a_layer_above_it() -> None:
    found = upward()
    up = sorted(found)
    assert up == [], "imports of a layer above: " + ", ".join(f"{a} -> {b}" for a, b in up)


def test_the_top_level_holds_at_most_ten_modules() -> None:
    modules = sorted(p.name for p in (ROOT / "src/nslab").glob("*.py"))
    assert len(modules) <= 10, modules


def test_every_module_is_in_a_layer() -> None:
    for module in imports():
        layer_of(module)


MOST_LINES = 450


def test_no_module_is_over_450_lines() -> None:
    lines = {
        str(p.relative_to(ROOT)): len(p.read_text().splitlines()) for p in (ROOT / "src/nslab").rglob("*.py")
    }
    long = {path for path, n in lines.items() if n > MOST_LINES}
    assert sorted(long) == [], "over 450 lines: split them: " + ", ".join(
        f"{p} ({lines[p]})" for p in sorted(long)
    )


def _names_in_docs() -> dict[str, set[str]]:
    """Every dotted nslab.x.y name and src/nslab/... path the README and docs/*.md cite."""
    name, path = re.compile(r"(?<![\w./-])nslab(?:\.[A-Za-z_]\w*)+"), re.compile(r"\bsrc/nslab(?:/[\w.-]+)*")
    cited: dict[str, set[str]] = {}
    for doc in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        text = doc.read_text()
        for found in {*name.findall(text), *(p.rstrip(".") for p in path.findall(text))}:
            cited.setdefault(found, set()).add(doc.name)
    return cited


def _exists(cited: str) -> bool:
    """A path is a file or folder of the checkout; a dotted name an importable module, or
    an attribute of the longest importable module it begins with."""
    if "/" in cited:
        return (ROOT / cited).exists()
    parts = cited.split(".")
    for i in range(len(parts), 0, -1):
        try:
            found: object = importlib.import_module(".".join(parts[:i]))
        except ModuleNotFoundError:
            continue
        for attribute in parts[i:]:
            if not hasattr(found, attribute):
                return False
            found = getattr(found, attribute)
        return True
    return False


def test_the_docs_name_only_modules_and_files_that_exist() -> None:
    cited = _names_in_docs()
    missing = sorted(f"{c} ({', '.join(sorted(cited[c]))})" for c in cited if not _exists(c))
    assert missing == [], "the docs name what does not exist: " + "; ".join(missing)
