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
    scripts += [str(p) for p in ROOT.glob("src/nslab/**/*.sh")]  # the world's holder
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


def test_the_targets_registry_is_the_one_module_that_imports_the_backends() -> None:
    """A backend (local, ssh, vagrant) imports the protocol (base), never the package or the
    registry; the package's __init__ imports nothing, so importing a backend cannot come
    back to it (the registry once lived in __init__ and imported ssh and vagrant)."""
    import ast

    folder = ROOT / "src" / "nslab" / "machine" / "targets"

    def imports(name: str) -> set[str]:
        out = set()
        for node in ast.walk(ast.parse((folder / name).read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("nslab"):
                out.add(node.module)
            elif isinstance(node, ast.Import):
                out.update(a.name for a in node.names)
        return {m for m in out if m.startswith("nslab.machine.targets")}

    assert imports("__init__.py") == set()
    for backend in ("local.py", "ssh.py", "vagrant.py"):
        assert not imports(backend) & {"nslab.machine.targets", "nslab.machine.targets.registry"}, backend
        assert "nslab.machine.targets.base" in imports(backend) | imports("ssh.py"), backend
    assert {"nslab.machine.targets.ssh", "nslab.machine.targets.vagrant"} <= imports("registry.py")


def test_settings_check_target_names_without_importing_targets_or_worlds() -> None:
    """config names the targets and the host_fs values; checking a setting imports neither
    the registry nor a world, and the registry has a backend for exactly those names."""
    code = (
        "import sys\n"
        "from nslab.config import Settings\n"
        "from nslab.errors import NslabError\n"
        "for bad in ({'target': 'nosuch'}, {'host_fs': 'wx'}):\n"
        "    try:\n"
        "        Settings.from_sources(bad, None)\n"
        "    except NslabError as exc:\n"
        "        print(exc.problem)\n"
        "print(sorted(m for m in sys.modules if m.startswith('nslab.machine')))\n"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert r.stdout.splitlines() == [
        "unknown target 'nosuch'",
        "host_fs='wx' is neither ro nor rw",
        "[]",
    ], r.stdout + r.stderr
    from nslab.config import TARGETS
    from nslab.machine.targets.registry import BACKENDS

    assert tuple(BACKENDS) == TARGETS
