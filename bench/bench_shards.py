"""What a shard costs on top of the scenarios it runs: `nslab run --shard K/N` (discover,
split, one behave worker, merge the reports) against plain `behave` given the same
scenarios, in the same run. Target (issue 12): overhead per shard <= 0.5 s.

    .venv/bin/python bench/bench_shards.py [--rounds 5]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

from figures import wall  # bench/figures.py: python puts the script's folder on the path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from nslab.runner.selection import scenarios  # noqa: E402
from nslab.runner.shards import pick  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rounds", type=int, default=5)
    rounds = ap.parse_args().rounds
    share = pick(scenarios(["features"]), 1, 4, {})
    print(f"shard 1/4: {len(share)} scenarios; {rounds} rounds, medians")
    with tempfile.TemporaryDirectory() as tmp:
        nslab = [
            sys.executable,
            "-m",
            "nslab.cli",
            "run",
            "-j",
            "1",
            "--shard",
            "1/4",
            "--reports",
            f"{tmp}/s",
        ]
        plain = [sys.executable, "-m", "behave", "-f", "progress", "-D", f"reports={tmp}/p", "-D", "html=",
                 "--junit-directory", f"{tmp}/p/junit", *(i.arg for i in share)]  # fmt: skip
        ours = statistics.median(wall(nslab) for _ in range(rounds))
        base = statistics.median(wall(plain) for _ in range(rounds))
    print(f"{'behave, the same scenarios':<40} {base:6.2f} s")
    print(f"{'nslab run --shard 1/4 -j 1':<40} {ours:6.2f} s")
    print(f"{'overhead per shard':<40} {ours - base:6.2f} s   ({ours / base:.2f}x; target <= 0.5 s)")


if __name__ == "__main__":
    main()
