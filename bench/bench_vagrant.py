"""vagrant-target benchmarks on a real VM (vagrant-libvirt, the offline box, QEMU TCG here).

    .venv/bin/python bench/bench_vagrant.py [--quick] [--no-suite]

Boots the repo's Vagrantfile inside the VM lane's world (tests/support/vmlane.py: libvirt,
vagrant and every SSH to the guest stay inside a namespace with no uplink) and prints:
cold `vagrant up` time; per-command latency over the vagrant target (one persistent
paramiko connection) against `vagrant ssh -c true`, measured in the same run; the behave
suite's wall time through the vagrant target against the local target. Then destroys
the VM and ends the world. Needs root and the packages named by `pytest -m vm`.
"""

from __future__ import annotations

import argparse
import atexit
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from figures import pct  # bench/figures.py: python puts the script's folder on the path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))  # the tests' support helpers

from support import vmlane

ROOT = Path(__file__).resolve().parents[1]
BEHAVE = [sys.executable, "-m", "behave", "-f", "progress", str(ROOT / "features")]

# Runs inside the world (next to libvirt): N commands over one vagrant-target connection.
PERSISTENT = r"""
import json, statistics, sys, time
from pathlib import Path
from nslab.machine.targets.vagrant import VagrantTarget
n = int(sys.argv[2])
start = time.perf_counter()
t = VagrantTarget.start(Path(sys.argv[1]), lifecycle="reuse")
connect = time.perf_counter() - start
times = []
for _ in range(n):
    s = time.perf_counter()
    r = t.run(["true"], timeout=30)
    assert r.ok, r
    times.append(time.perf_counter() - s)
t.close()
print(json.dumps({"connect": connect, "times": times}))
"""


def reports(name: str) -> list[str]:
    """Reports of a bench run go to a temporary folder, not over the checkout's reports/."""
    folder = Path(tempfile.mkdtemp(prefix=f"nslab-bench-{name}-"))
    atexit.register(shutil.rmtree, folder, True)
    return [
        "-D",
        f"reports={folder}",
        "-D",
        f"html={folder / 'index.html'}",
        "--junit-directory",
        str(folder / "junit"),
    ]


def suite_line(output: str) -> str:
    return next((x.strip() for x in output.splitlines() if "scenarios passed" in x), output[-200:])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="fewer samples")
    ap.add_argument("--no-suite", action="store_true", help="skip the suite timings")
    args = ap.parse_args()
    reason = vmlane.missing()
    if reason:
        sys.exit(f"bench_vagrant: {reason}")
    n_fast, n_slow = (50, 3) if args.quick else (300, 5)

    with vmlane.lane(ROOT) as lane:
        r = lane.run([sys.executable, "-c", PERSISTENT, str(ROOT), str(n_fast)], timeout=600, check=True)
        fast = json.loads(r.stdout.strip().splitlines()[-1])
        slow = []
        for _ in range(n_slow):
            s = time.perf_counter()
            lane.run(["vagrant", "ssh", "-c", "true"], timeout=120, check=True)
            slow.append(time.perf_counter() - s)
        p50_fast, p50_slow = pct(fast["times"], 0.5), pct(slow, 0.5)
        print(f"vagrant target connect (ssh_config + login + agent): {fast['connect']:.2f} s")
        print(
            f"per command, vagrant target: p50 {p50_fast * 1000:.1f} ms, "
            f"p95 {pct(fast['times'], 0.95) * 1000:.1f} ms (n={n_fast})"
        )
        print(f"per command, vagrant ssh -c true: p50 {p50_slow * 1000:.0f} ms (n={n_slow})")
        print(f"  ratio: {p50_slow / p50_fast:.0f}x")

        if not args.no_suite:
            s = time.perf_counter()
            vm = lane.run(
                [
                    *BEHAVE,
                    "-D",
                    "target=vagrant",
                    "-D",
                    "vagrant=reuse",
                    "-D",
                    "ping_wait=0.5",
                    *reports("vm"),
                ],
                timeout=3600,
            )
            t_vm = time.perf_counter() - s
            print(f"suite through the vagrant target: {t_vm:.1f} s ({suite_line(vm.stdout)})")

    print(f"cold vagrant up: {lane.timings['vagrant_up']:.0f} s (QEMU TCG, offline Debian 12 box)")
    if not args.no_suite:
        s = time.perf_counter()
        local = subprocess.run(
            [*BEHAVE, *reports("local")],
            cwd=ROOT,
            capture_output=True,
            text=True,
        )
        t_local = time.perf_counter() - s
        print(f"suite on the local target: {t_local:.1f} s ({suite_line(local.stdout)})")
        print(f"  ratio: {t_vm / t_local:.1f}x (VM under TCG vs local)")


if __name__ == "__main__":
    main()
