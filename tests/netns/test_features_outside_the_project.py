"""Features kept outside the project's features/ folder run with the project's steps and
hooks, with behave and with nslab run (behave alone looked for steps/ from the feature's
folder upward and stopped: "ConfigError: No steps directory")."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from conftest import ROOT, needs_netns, run_behave

from nslab.runner.parallel import steps_anchor


def test_only_a_feature_outside_the_project_gets_the_steps_folder_first(tmp_path: Path) -> None:
    inside = str(ROOT / "features" / "01-base-lab.feature")
    assert steps_anchor([inside], ROOT) == []
    assert steps_anchor([inside, str(tmp_path / "x.feature")], ROOT) == [str(ROOT / "steps")]
    assert steps_anchor([str(tmp_path / "x.feature")], tmp_path) == []  # no project: behave's own error


@needs_netns
def test_a_feature_outside_the_project_runs_with_behave_and_nslab_run(tmp_path: Path) -> None:
    mine = tmp_path / "elsewhere" / "mine.feature"
    mine.parent.mkdir()
    mine.write_text((ROOT / "features" / "01-base-lab.feature").read_text())
    plain = run_behave(str(mine), "-D", f"reports={tmp_path / 'r0'}", "-D", "html=", "--no-junit")
    assert "ConfigError: No steps directory" in plain.stdout + plain.stderr  # behave's own limit
    documented = run_behave(
        "steps", str(mine), "-D", f"reports={tmp_path / 'r1'}", "-D", "html=", "--no-junit"
    )
    assert documented.returncode == 0 and "3 scenarios passed, 0 failed" in documented.stdout, (
        documented.stdout
    )
    r = subprocess.run(
        [sys.executable, "-m", "nslab.cli", "run", "-j", "2", "--reports", str(tmp_path / "r2"), str(mine)],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr
    assert "nslab: 3 passed, 0 failed, 0 skipped" in r.stdout + r.stderr, r.stdout
