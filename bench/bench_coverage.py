"""Rule coverage and ruleset mutation: figures, and ratios against baselines measured in the
same run.

    .venv/bin/python bench/bench_coverage.py            # 3 rounds each way, then mutate (~2 min)
    .venv/bin/python bench/bench_coverage.py --quick    # 1 round each way

Prints: `behave features/` with rule coverage on against off, rounds interleaved (target:
<= 1.10x), and the same for features/dmz alone (the story whose lab has a ruleset file);
`nslab mutate` of labs/dmz-edge.nft against features/dmz with -j 2 (target: <= 90 s on 2
cores), its mutants per second, and its wall against one unmutated run of the same
scenarios.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile

from figures import ROOT, wall  # bench/figures.py: python puts the script's folder on the path

BEHAVE = [sys.executable, "-m", "behave", "-f", "null", "--no-junit", "-D", "html="]


def line(name: str, value: str, note: str = "") -> None:
    print(f"{name:<56} {value:>12}   {note}")


def on_off(paths: list[str], rounds: int, reports: str) -> tuple[float, float]:
    """Median seconds with rule coverage on and off, the rounds interleaved (on, off, on ...)
    so a machine's drift weighs on both alike."""
    on, off = [], []
    for _ in range(rounds):
        for setting, out in (("on", on), ("off", off)):
            out.append(wall([*BEHAVE, "-D", f"reports={reports}", "-D", f"rule_coverage={setting}", *paths]))
    return statistics.median(on), statistics.median(off)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one round each way")
    args = parser.parse_args()
    rounds = 1 if args.quick else 3
    print(f"nslab rule coverage and mutation, {os.cpu_count()} CPUs, {rounds} round(s) each way")
    with tempfile.TemporaryDirectory(prefix="nslab-bench-") as reports:
        for paths in (["features/"], ["features/dmz"]):
            on, off = on_off(paths, rounds, reports)
            name = f"behave {' '.join(paths)}: coverage on / off"
            line(name, f"{on / off:.3f}x", f"on {on:.2f} s, off {off:.2f} s (target <= 1.10x)")
        suite = wall([*BEHAVE, "-D", f"reports={reports}", "-D", "rule_coverage=off", "features/dmz"])
    mutate = [
        str(ROOT / ".venv" / "bin" / "nslab"),
        "mutate",
        "--lab",
        "labs/dmz.toml",
        "-j",
        "2",
        "features/dmz",
    ]
    took = wall(mutate)
    from nslab.coverage.mutate import mutants  # how many it ran: the same list it makes

    n = len(mutants(ROOT / "labs" / "dmz-edge.nft", "nft", "dmz-edge.nft"))
    line("nslab mutate dmz-edge.nft, features/dmz, -j 2", f"{took:.1f} s", "(target <= 90 s on 2 cores)")
    line("  mutants per second", f"{n / took:.2f}", f"{n} mutants")
    line("  against one unmutated run of features/dmz", f"{took / suite:.1f}x", f"that run {suite:.2f} s")


if __name__ == "__main__":
    main()
