"""nslab explore at scale: generated labs of 25, 50 and 100 hosts, 10 ports each, against
the 20-host lab measured in the same run (ratios and flows per second; aim: 100 hosts in
at most 60 s on 2 cores). The labs are written to a temporary folder.

    .venv/bin/python bench/bench_scale.py             # 20, 25, 50 and 100 hosts
    .venv/bin/python bench/bench_scale.py --upto 50   # a shorter run

Every flow must be measured: a run that fails, or gives fewer flows than the lab has, ends
the bench with its error (a figure of a failed run would be a lie).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from bench_explore import generated  # bench/: python puts the script's folder on the path

from nslab.config import Settings
from nslab.lab import load_lab
from nslab.reach.flows import wanted
from nslab.reach.review import measure

SIZES = (25, 50, 100)
BASE = 20
PORTS = 10
AIM = 60.0  # seconds for the 100-host lab


def line(name: str, value: str, note: str = "") -> None:
    print(f"{name:<46} {value:>12}   {note}")


def run(hosts: int) -> tuple[int, float]:
    """One explore of a generated lab in process: flows measured and seconds (build included)."""
    with tempfile.TemporaryDirectory() as tmp:
        lab = load_lab(generated(hosts, PORTS, Path(tmp)))
        todo = len(wanted(lab, (), ()))
        start = time.perf_counter()
        got = measure(Settings(), lab, progress=lambda _: None)  # type: ignore[arg-type]
        seconds = time.perf_counter() - start
    if len(got) != todo or any(not m.verdict.outcome for m in got):
        raise SystemExit(f"{hosts} hosts: {len(got)} of {todo} flows measured")
    return len(got), seconds


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--upto", type=int, default=SIZES[-1], help="the largest lab (hosts)")
    upto = ap.parse_args().upto
    n0, base = run(BASE)
    line(f"{BASE} hosts, {PORTS} ports: {n0} flows", f"{base:8.2f} s", f"{n0 / base:7.0f} flows/s (baseline)")
    for hosts in (h for h in SIZES if h <= upto):
        n, seconds = run(hosts)
        aim = f"  (aim <= {AIM:.0f} s)" if hosts == 100 else ""
        line(
            f"{hosts} hosts, {PORTS} ports: {n} flows",
            f"{seconds:8.2f} s",
            f"{n / seconds:7.0f} flows/s, {seconds / base:5.1f}x the time for {n / n0:5.1f}x the flows{aim}",
        )


if __name__ == "__main__":
    main()
