"""ssh-target benchmarks against a throwaway sshd on 127.0.0.1 (needs root and openssh-server).

    .venv/bin/python bench/bench_ssh.py [--quick]

Prints per-command latency over nslab's persistent connection (p50/p95) against a fresh
`ssh` process per command to the same sshd, measured in the same run; and the behave
suite's wall time on the ssh target against the local target. Targets (issue 4):
p50 <= 5 ms, >= 10x faster than an ssh process per command, suite on ssh <= 1.5x local.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from figures import pct  # bench/figures.py: python puts the script's folder on the path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))  # the tests' support helpers

from support.sshd import TestSshd

from nslab.machine.targets.ssh import SshTarget

ROOT = Path(__file__).resolve().parents[1]


def suite(extra: list[str]) -> tuple[float, str]:
    with tempfile.TemporaryDirectory(prefix="nslab-bench-") as reports:  # nothing left behind
        behave = [sys.executable, "-m", "behave", "features/", "-f", "progress"]
        cmd = [*behave, "-D", f"reports={reports}", *extra]
        start = time.perf_counter()
        r = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    line = next((x for x in r.stdout.splitlines() if "scenarios passed" in x), r.stdout[-200:])
    return time.perf_counter() - start, line.strip()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args()
    n_fast, n_slow = (100, 10) if args.quick else (1000, 50)
    directory = Path(tempfile.mkdtemp(prefix="nslab-bench-sshd-"))
    try:
        with TestSshd.start(directory, users=["root"]) as sshd:
            target = SshTarget.connect(sshd.options())
            try:
                times = []
                for _ in range(n_fast):
                    start = time.perf_counter()
                    target.run(["true"], check=True)
                    times.append(time.perf_counter() - start)
            finally:
                target.close()
            ssh_cmd = [
                "ssh",
                "-i",
                str(sshd.client_key),
                "-p",
                str(sshd.port),
                "-o",
                "BatchMode=yes",
                "-o",
                f"UserKnownHostsFile={sshd.known_hosts()}",
                "root@127.0.0.1",
                "true",
            ]
            fresh = []
            for _ in range(n_slow):
                start = time.perf_counter()
                subprocess.run(ssh_cmd, check=True, capture_output=True)
                fresh.append(time.perf_counter() - start)
            p50, p95 = pct(times, 0.5) * 1000, pct(times, 0.95) * 1000
            print(
                f"{'command over the persistent connection':<44} p50 {p50:7.2f} ms   p95 {p95:7.2f} ms"
                f"   n={n_fast}  (target p50 <= 5 ms)"
            )
            f50 = statistics.median(fresh) * 1000
            print(f"{'a fresh `ssh` process per command':<44} p50 {f50:7.2f} ms   n={n_slow}  (same sshd)")
            print(f"{'  speed-up':<44} {f50 / p50:7.1f} x   (target >= 10x)")
            local_s, local_line = suite([])
            ssh_s, ssh_line = suite(sshd.userdata())
            print(f"{'behave features/ on local':<44} {local_s:7.2f} s    ({local_line})")
            print(f"{'behave features/ on ssh':<44} {ssh_s:7.2f} s    ({ssh_line})")
            print(f"{'  ssh / local':<44} {ssh_s / local_s:7.2f} x   (target <= 1.5x)")
    finally:
        shutil.rmtree(directory, ignore_errors=True)


if __name__ == "__main__":
    main()
