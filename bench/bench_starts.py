"""Process starts: the CPU a behave run, the on-target helper and the nslab CLI spend
before doing anything, as ratios to `python -c pass` measured in the same run.

    .venv/bin/python bench/bench_starts.py            # 20 starts of each
    .venv/bin/python bench/bench_starts.py --quick    # 5 of each

The test command starts hundreds of behave processes and thousands of helpers, on 2 cores
shared by its workers, so what counts is CPU (user + system, the process and its children),
not wall time; the minimum of N is the cost itself, what the load adds only makes it longer.
Prints: a behave dry run of one feature (imports, steps and hooks, no world), the helper
`netprobe.py` (system python, `-I -S`, as a world starts it, given no request), `nslab
validate` of the seed lab, each against the interpreter that runs it doing nothing.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
VENV_PY = ROOT / ".venv/bin/python"
SYSTEM_PY = "/usr/bin/python3"


def cpu(argv: list[str], n: int) -> float:
    """The least CPU seconds (user + system, children included) of n runs of argv. wait4's
    rusage, not os.times(): that counts in clock ticks (10 ms here, the size of a start)."""
    # with cached bytecode, as a suite's runs have it
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    best = float("inf")
    for i in range(n + 1):  # the first run writes the bytecode: not counted
        with tempfile.TemporaryFile() as err:
            proc = subprocess.Popen(argv, cwd=ROOT, env=env, stdin=subprocess.DEVNULL, stdout=err, stderr=err)
            _, status, usage = os.wait4(proc.pid, 0)
            proc.returncode = os.waitstatus_to_exitcode(status)
            if proc.returncode != 0:
                err.seek(0)
                said = err.read().decode()[-1500:]
                raise SystemExit(f"{' '.join(argv)} failed (rc {proc.returncode}):\n{said}")
        if i:
            best = min(best, usage.ru_utime + usage.ru_stime)
    return best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="5 starts of each, not 20")
    args = ap.parse_args()
    n = 5 if args.quick else 20
    venv, system = str(VENV_PY), SYSTEM_PY
    rows = [
        ("python -c pass (venv)", [venv, "-c", "pass"], None),
        (
            "behave --dry-run, one feature",
            [venv, "-m", "behave", "--dry-run", "-f", "null", "--no-junit", "features/01-base-lab.feature"],
            "python -c pass (venv)",
        ),
        (
            "nslab validate (seed lab)",
            [venv, "-m", "nslab.cli", "validate", "labs/seed.toml"],
            "python -c pass (venv)",
        ),
        ("python3 -I -S -c pass (system)", [system, "-I", "-S", "-c", "pass"], None),
        (
            "netprobe.py start (system python3)",
            [system, "-I", "-S", str(ROOT / "src/nslab/ontarget/netprobe.py")],
            "python3 -I -S -c pass (system)",
        ),
    ]
    seen: dict[str, float] = {}
    for name, argv, base in rows:
        seen[name] = cpu(argv, n)
        ratio = f"{seen[name] / seen[base]:6.2f}x {base}" if base else "(baseline)"
        print(f"{name:<38} CPU min {seen[name] * 1000:7.1f} ms  n={n}  {ratio}", flush=True)


if __name__ == "__main__":
    sys.exit(main())
