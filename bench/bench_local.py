"""Local-target benchmarks: figures and ratios against baselines measured in the same run.

    .venv/bin/python bench/bench_local.py            # full run (a few minutes)
    .venv/bin/python bench/bench_local.py --quick    # smaller counts, for a smoke check

Prints: world setup+teardown p50/p95 (host files read-only, the default, and read-write);
the seed and dmz labs provisioned in a world, then again on top (idempotence), against a
bash per stage; the time to a 100%-loss verdict with nslab's probe vs the seed's plain
`ping -c 3` (and how many of N verdicts were wrong, both for loss and for success); the
behave suite's wall time. Targets (issue 10): world p50 <= 20 ms, seed lab <= 60 ms, dmz
lab <= 150 ms, suite (seed + dmz) <= 10 s on 2 cores; loss verdict >= 8x faster than
`ping -c 3`, 0 wrong verdicts in 1,000.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from figures import show, timed  # bench/figures.py: python puts the script's folder on the path

from nslab.config import Settings
from nslab.lab import Lab, default_lab, load_lab
from nslab.machine.provision import lab_env, provision, select
from nslab.machine.targets.local import LocalTarget
from nslab.machine.world import World
from nslab.probe import checks as probe

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="small counts (seconds, not minutes)")
    args = ap.parse_args()
    n_world, n_lab, n_verdicts = (10, 3, 50) if args.quick else (100, 20, 1000)
    target, lab, settings = LocalTarget(), default_lab(), Settings()

    worlds = timed(lambda: World.start(target).close(), n_world)
    show("world setup + teardown (host files ro)", worlds, "(target p50 <= 20 ms)")
    worlds = timed(lambda: World.start(target, host_fs="rw").close(), n_world)
    show("  with host_fs=rw (no read-only mounts)", worlds)

    def lab_times(the_lab: Lab, n: int) -> tuple[list[float], list[float], list[float], list[float]]:
        """Provisioning the lab in a fresh world: nslab's way, the stages again on top (they
        are idempotent: the second run must succeed and change nothing), and the naive way
        measured in the same run (a bash process per stage, as before stages shared one).
        Each right after the previous world ended, as in a suite; and once more after a
        0.1 s pause ("quiet"): the kernel frees an ended world's bridge and bridge ports
        holding the rtnl lock (measured: ~20 ms a bridge), which the next lab waits for."""
        first, again, naive, quiet = [], [], [], []
        stages = [s.file for s in select(the_lab)]
        env = lab_env(the_lab)
        per_stage = "".join(f'bash "$1/{f}" && ' for f in stages) + "true"
        for _ in range(n):
            with World.start(target) as w:
                start = time.perf_counter()
                provision(w, the_lab)
                first.append(time.perf_counter() - start)
                start = time.perf_counter()
                provision(w, the_lab)
                again.append(time.perf_counter() - start)
            with World.start(target) as w:
                time.sleep(0.1)
                start = time.perf_counter()
                provision(w, the_lab)
                quiet.append(time.perf_counter() - start)
            if not any(h.rulesets for h in the_lab.hosts):  # the naive replay needs no ruleset upload
                with World.start(target) as w:
                    start = time.perf_counter()
                    w.run(["bash", "-c", per_stage, "naive", w.provision_dir], env=env, check=True)
                    naive.append(time.perf_counter() - start)
        return first, again, naive, quiet

    first, again, naive, quiet = lab_times(lab, n_lab)
    show("seed lab provisioned in a world (8 stages)", first, "(target p50 <= 60 ms)")
    show("  quiet: 0.1 s after the last world ended", quiet)
    show("  the same stages again (idempotent)", again)
    show("  naive: a bash per stage (same run)", naive)
    ratio = statistics.median(naive) / statistics.median(first)
    print(f"{'  speed-up vs a bash per stage':<44} {ratio:8.2f} x")
    dmz = load_lab(ROOT / "labs" / "dmz.toml")
    first, again, _, quiet = lab_times(dmz, n_lab)
    show("dmz lab (4 hosts, 2 bridges, nft ruleset, v4+v6)", first, "(target p50 <= 150 ms)")
    show("  quiet: 0.1 s after the last world ended", quiet)
    show("  the same stages again (idempotent)", again)

    with World.start(target) as w:
        provision(w, lab, upto="firewall")
        w.run(["iptables", "-w", "-D", "NAVY", "-s", "10.16.0.0/24", "-d", "10.16.0.0/24", "-j", "ACCEPT"])

        def verdict() -> bool:
            r = probe.ping(w, "red", "10.16.0.3", interval=settings.ping_interval, wait=settings.ping_wait)
            decided = [d.describe() for d in r.evidence.deciding(lost=True)]
            return (r.result.transmitted, r.result.received) == (3, 0) and decided == [
                "dropped by FORWARD policy DROP (+3 packets)"
            ]

        def bare() -> None:  # the same ping without the counter snapshots around it
            argv = probe.ping_argv(
                "10.16.0.3", count=3, interval=settings.ping_interval, wait=settings.ping_wait
            )
            w.run(argv, ns="red", timeout=10)

        start = time.perf_counter()
        plain = w.run(["ping", "-n", "-c", "3", "10.16.0.3"], ns="red", timeout=60)
        baseline = time.perf_counter() - start
        assert "3 packets transmitted, 0 received" in plain.stdout, plain.stdout
        loss_times, wrong_loss = [], 0
        for _ in range(n_verdicts):
            start = time.perf_counter()
            ok = verdict()
            loss_times.append(time.perf_counter() - start)
            wrong_loss += not ok
        show("100%-loss verdict, nslab probe (3 packets)", loss_times, "(target >= 8x ping -c 3)")
        bare_times = timed(bare, max(20, n_verdicts // 10))
        show("  the same ping without evidence", bare_times)
        cost = statistics.median(loss_times) / statistics.median(bare_times)
        print(f"{'  evidence (which rule decided) costs':<44} {cost:8.3f} x   (same run; target <= 1.05x)")
        speedup = baseline / statistics.median(loss_times)
        print(f"{'100%-loss verdict, plain `ping -c 3`':<44} {baseline * 1000:8.1f} ms   (same run)")
        print(f"{'  speed-up vs ping -c 3':<44} {speedup:8.1f} x   (target >= 8x)")
        print(f"{'  wrong loss verdicts (or deciding rule)':<44} {wrong_loss} of {n_verdicts}")

        accept = ["-s", "10.16.0.0/24", "-d", "10.16.0.0/24", "-j", "ACCEPT"]
        w.run(["iptables", "-w", "-I", "NAVY", "1", *accept])
        ok_times, wrong_ok = [], 0
        for _ in range(n_verdicts):
            start = time.perf_counter()
            r = probe.ping(w, "red", "10.16.0.3", interval=settings.ping_interval, wait=settings.ping_wait)
            ok_times.append(time.perf_counter() - start)
            wrong_ok += r.result.received != 3
        show("0%-loss verdict, nslab probe (3 packets)", ok_times)
        print(f"{'  wrong success verdicts':<44} {wrong_ok} of {n_verdicts}")

    with tempfile.TemporaryDirectory(prefix="nslab-bench-") as reports:  # nothing left behind
        start = time.perf_counter()
        behave = [sys.executable, "-m", "behave", "features/", "-f", "progress", "-D", f"reports={reports}"]
        r = subprocess.run(behave, cwd=ROOT, capture_output=True, text=True)
        suite = time.perf_counter() - start
    line = next((x for x in r.stdout.splitlines() if "scenarios passed" in x), r.stdout[-300:])
    print(f"{'behave features/ wall time':<44} {suite:8.2f} s    ({line.strip()}; target <= 10 s)")


if __name__ == "__main__":
    main()
