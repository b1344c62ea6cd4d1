"""Serial vs parallel suite wall time, measured in the same run (best of N each).

    .venv/bin/python bench/bench_parallel.py [--repeat 3]

Target (issue 6): with 2 workers on 2 cores, at least 1.7x faster than a serial run.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from figures import wall  # bench/figures.py: python puts the script's folder on the path

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    serial = [sys.executable, "-m", "behave", "features/", "-f", "progress"]
    runs = {"serial (behave features/)": serial}
    for jobs in (2, 3, 4):
        runs[f"nslab run -j {jobs}"] = [sys.executable, "-m", "nslab.cli", "run", "-j", str(jobs)]
    best = {name: min(wall(argv) for _ in range(args.repeat)) for name, argv in runs.items()}
    base = best["serial (behave features/)"]
    for name, seconds in best.items():
        print(f"{name:<28} {seconds:6.2f} s   {base / seconds:5.2f}x   (best of {args.repeat})")
    print("target: nslab run -j 2 >= 1.7x on 2 cores")


if __name__ == "__main__":
    main()
