"""Style gates that CI enforces: ruff on the Python, shellcheck on every shell script."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT


def test_ruff_is_clean() -> None:
    ruff = Path(sys.executable).with_name("ruff")
    if not ruff.exists():
        pytest.skip("ruff is not installed (pip install -e '.[dev]')")
    r = subprocess.run([str(ruff), "check", "."], cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 0, r.stdout


def test_shell_scripts_pass_shellcheck() -> None:
    shellcheck = shutil.which("shellcheck") or str(Path(sys.executable).with_name("shellcheck"))
    scripts = [
        str(p)
        for p in (*ROOT.glob("provision/**/*.sh"), *ROOT.glob(".ci/*"), *ROOT.glob("bench/*.sh"))
        if p.is_file() and p.suffix in ("", ".sh")
    ]
    r = subprocess.run([shellcheck, "-x", *scripts], cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 0, r.stdout


def test_mypy_is_clean_on_src() -> None:
    """A type checker on src/ ([tool.mypy] in pyproject.toml): the lab models' unions, the
    backends' options and the probes' verdicts are checked, not guessed."""
    mypy = Path(sys.executable).with_name("mypy")
    if not mypy.exists():
        pytest.skip("mypy is not installed (pip install -e '.[dev]')")
    r = subprocess.run([str(mypy)], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stdout[-3000:]


def test_no_import_cycles_in_src() -> None:
    """Module imports go one way (lazy imports inside functions included): a cycle is a
    place where two modules know each other's insides."""
    import ast

    src = ROOT / "src"
    paths = {
        ".".join(p.relative_to(src).with_suffix("").parts).removesuffix(".__init__"): p
        for p in src.rglob("*.py")
    }
    modules = set(paths)
    graph: dict[str, set[str]] = {}
    for module, path in paths.items():
        found = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("nslab"):
                for alias in node.names:  # `from nslab.machine.targets import agent` imports the module agent
                    sub = f"{node.module}.{alias.name}"
                    found.add(sub if sub in modules else node.module)
            elif isinstance(node, ast.Import):
                found.update(a.name for a in node.names if a.name.startswith("nslab"))
        graph[module] = found
    edges = {m: {d for d in deps if d in modules and d != m} for m, deps in graph.items()}

    def reach(start: str) -> set[str]:
        seen, todo = set(), [start]
        while todo:
            for nxt in edges.get(todo.pop(), ()):
                if nxt not in seen:
                    seen.add(nxt)
                    todo.append(nxt)
        return seen

    cycles = sorted(m for m in modules if m in reach(m) and m != "nslab")
    assert cycles == [], f"modules on an import cycle: {cycles}"
