"""Shared by the bench scripts: percentiles, timing a callable, one line per figure."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def timed(fn: Callable[[], object], n: int) -> list[float]:
    out = []
    for _ in range(n):
        start = time.perf_counter()
        fn()
        out.append(time.perf_counter() - start)
    return out


def show(name: str, seconds: list[float], note: str = "") -> None:
    ms = [s * 1000 for s in seconds]
    print(f"{name:<46} p50 {pct(ms, 0.5):8.1f} ms   p95 {pct(ms, 0.95):8.1f} ms   n={len(ms)}  {note}")


def wall(argv: list[str], cwd: Path = ROOT) -> float:
    """Seconds one command takes, run from the checkout; a failure ends the bench with its
    output (a figure of a failed run would be a lie)."""
    start = time.perf_counter()
    r = subprocess.run(argv, cwd=cwd, capture_output=True, text=True)
    if r.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed:\n{r.stdout[-2000:]}{r.stderr[-1000:]}")
    return time.perf_counter() - start
