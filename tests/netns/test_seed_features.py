"""The seed features through behave, as a user runs them, and what failures look like."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from conftest import ROOT, SEED_STORY, TESTS, count_scenarios, host_snapshot, needs_netns, run_behave

pytestmark = needs_netns
HERE = TESTS


def summary(stdout: str) -> dict[str, int]:
    m = re.search(r"(\d+) scenarios? passed, (\d+) failed, (\d+) skipped", stdout)
    assert m, stdout[-2000:]
    return {"passed": int(m[1]), "failed": int(m[2]), "skipped": int(m[3])}


def test_seed_features_pass_and_leave_the_host_untouched(tmp_path: Path) -> None:
    before = host_snapshot()
    out = tmp_path / "r.json"
    r = run_behave("features/", "-D", f"reports={tmp_path}", "-f", "json", "-o", str(out))
    assert r.returncode == 0, r.stdout[-4000:] + r.stderr[-2000:]
    features = json.loads(out.read_text())
    scenarios = [el for f in features for el in f.get("elements", []) if el["type"] != "background"]
    assert len(scenarios) >= 25
    assert {el["status"] for el in scenarios} == {"passed"}
    # every feature file on disk ran, and passed
    ran = {f["location"].split(":")[0]: f["status"] for f in features}
    assert set(ran) == {str(p.relative_to(ROOT)) for p in (ROOT / "features").rglob("*.feature")}
    assert set(ran.values()) == {"passed"}
    assert host_snapshot() == before


def test_a_failing_scenario_leaves_a_diagnostics_bundle(tmp_path: Path) -> None:
    r = run_behave(str(HERE / "features" / "deliberate-failure.feature"), "-D", f"reports={tmp_path}")
    assert r.returncode == 1
    assert "expected 0% loss, got 100%" in r.stdout
    bundles = list((tmp_path / "diagnostics").glob("*.txt"))
    assert len(bundles) == 1 and str(bundles[0]) in r.stdout + r.stderr
    text = bundles[0].read_text()
    why = text.split("\n\n", 1)[0]  # the bundle opens with the failing step and its message
    assert why.startswith("===== why it failed =====\nThen 0% of packets are lost"), why
    assert "deliberate-failure.feature:7" in why and "expected 0% loss, got 100%" in why, why
    assert ":FORWARD DROP" in text  # iptables-save -c, with the policy's counter
    assert re.search(r":FORWARD DROP \[[1-9]\d*:\d+\]", text), "the drop counter shows the dropped packets"
    for piece in (
        "veth0-red",
        "[red] addresses",
        "[blue] routes",
        "net.ipv4.ip_forward = 1",
        "3 packets transmitted, 0 received, 100% packet loss",
        "commands this scenario ran",
    ):
        assert piece in text, piece


def test_unknown_names_fail_listing_the_valid_ones(tmp_path: Path) -> None:
    r = run_behave(str(HERE / "features" / "unknown-names.feature"), "-D", f"reports={tmp_path}")
    assert r.returncode == 1
    out = r.stdout
    assert "unknown host 'purple' in lab 'seed' (fix: use one of: red, blue)" in out
    assert "unknown host 'red; rm -rf /'" in out
    assert "no chain 'TEAL' in the filter table (fix: existing chains: none, the table is still empty)" in out
    assert "Traceback" not in out
    assert "address 192.0.2.1 is not part of lab 'seed'" in out
    assert summary(out)["failed"] == 4


def test_bad_target_and_bad_lab_are_one_line_errors(tmp_path: Path) -> None:
    r = run_behave("features/01-base-lab.feature", "-D", "target=nowhere")
    assert r.returncode != 0
    assert "nslab: unknown target 'nowhere' (fix: use one of: local, ssh, vagrant)" in r.stderr
    bad = tmp_path / "bad.toml"
    bad.write_text('[[namespace]]\nname = "veth-with-a-long-name"\naddress = "10.16.0.2"\n')
    r = run_behave("features/01-base-lab.feature", "-D", f"lab={bad}")
    assert r.returncode != 0
    assert "namespace #1.name: 'veth-with-a-long-name' is longer than 15 bytes" in r.stderr
    assert "Traceback" not in r.stderr


def test_another_lab_file_drives_the_same_steps(tmp_path: Path) -> None:
    """A feature only the three-namespace lab can pass (green, 10.20.0.0/24): it passes with
    -D lab=labs/three-ns.toml and fails without, so the option cannot be ignored."""
    feature = str(HERE / "features" / "three-ns.feature")
    r = run_behave(feature, "-D", "lab=labs/three-ns.toml", "-D", f"reports={tmp_path}")
    assert r.returncode == 0, r.stdout[-3000:]
    assert summary(r.stdout) == {"passed": 2, "failed": 0, "skipped": 0}
    r = run_behave(feature, "-D", f"reports={tmp_path}")  # the seed lab has no green
    assert r.returncode == 1 and summary(r.stdout)["failed"] == 2
    assert "'ip netns show' does not list green; it lists: blue, red" in r.stdout
    assert "unknown destination 'green'" in r.stdout


def seed_literal_scenarios(*paths: str) -> int:
    """Scenarios tagged @seed-literal (by the feature or the scenario), outline rows counted."""
    paths = paths or ("features/",)
    dry = run_behave("--dry-run", "-f", "null", "--tags", "@seed-literal", "--no-junit", *paths)
    found = re.search(r"^0 scenarios passed, 0 failed, \d+ skipped, (\d+) untested", dry.stdout, re.M)
    assert found, dry.stdout
    return int(found.group(1))


def test_the_readme_command_for_another_lab(tmp_path: Path) -> None:
    """The README's `behave -D lab=labs/three-ns.toml features/*.feature`, word for word (the
    shell's glob is SEED_STORY): everything passes but the @seed-literal scenarios, which skip
    saying why, as many as the README says."""
    readme = (ROOT / "README.md").read_text()
    assert "behave -D lab=labs/three-ns.toml features/*.feature" in readme
    literal = seed_literal_scenarios(*SEED_STORY)
    total = count_scenarios(*SEED_STORY)
    assert 0 < literal < total
    assert f"{literal} of {total}) and are skipped" in readme
    assert f"the other {total - literal} follow" in readme
    r = run_behave("-D", "lab=labs/three-ns.toml", *SEED_STORY, "-D", f"reports={tmp_path}", "-D", "html=")
    assert r.returncode == 0, r.stdout[-3000:]
    assert summary(r.stdout) == {"passed": total - literal, "failed": 0, "skipped": literal}


def test_suite_runs_unprivileged_in_user_namespaces(tmp_path: Path) -> None:
    """Not root: worlds are made in a user namespace, and every scenario still passes."""
    import shutil
    import subprocess
    import sys

    drop = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]
    if shutil.which("setpriv") is None:
        pytest.skip("setpriv (util-linux) is not installed")
    probe = subprocess.run([*drop, sys.executable, "-c", "import nslab"], capture_output=True, cwd=ROOT)
    if probe.returncode != 0:
        pytest.skip(f"uid 65534 cannot import nslab from this checkout: {probe.stderr.decode()[-200:]}")
    import tempfile

    # Run from a folder of its own: uid 65534 cannot write the HTML and JUnit reports into
    # this root-owned checkout, and outside it no [tool.behave] asks for them.
    # Skip only when this kernel cannot make an unprivileged world at all; once one can be
    # made, every scenario must pass.
    world = [
        *drop,
        sys.executable,
        "-c",
        "from nslab.machine.targets.local import LocalTarget as T\n"
        "from nslab.machine.world import World\nWorld.start(T()).close()",
    ]
    made = subprocess.run(world, capture_output=True, text=True, cwd=ROOT, timeout=30)
    if made.returncode != 0:
        pytest.skip(f"no unprivileged world on this kernel: {made.stderr.strip().splitlines()[-1:]}")
    cwd = Path(tempfile.mkdtemp(prefix="nslab-unpriv-"))
    cwd.chmod(0o777)
    try:
        r = subprocess.run(
            [
                *drop,
                sys.executable,
                "-m",
                "behave",
                str(ROOT / "features"),
                "-f",
                "progress",
                "-D",
                f"reports={cwd}",
            ],
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=300,
        )
    finally:
        shutil.rmtree(cwd, ignore_errors=True)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-2000:]
    # but Docker's: dockerd needs root (cgroups, mounts), so they skip, saying so
    docker = count_scenarios("features/docker/")
    assert summary(r.stdout) == {"passed": count_scenarios() - docker, "failed": 0, "skipped": docker}
