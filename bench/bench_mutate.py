"""What `nslab mutate` spends: the scaffold's lab (`nslab init`), every mutant run with
`-j 2`, its runs forked from the pre-imported zygote (as nslab runs them) against a fresh
`python -m behave` per mutant (Mutator(fork=False)), in the same run, rounds interleaved.
CPU is user+sys of the run and every process below it (getrusage of the reaped children);
the verdicts of the two must be the same, or the bench fails.

    .venv/bin/python bench/bench_mutate.py [--rounds 3]
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

# One mutate run in its own process, so its CPU is its own: the mutants' verdicts on stdout
_RUN = """
import json, sys
from pathlib import Path
from nslab.coverage.mutate import Mutator, every_mutant
mutator = Mutator(Path("labs/lab.toml"), ["features"], 2, fork=sys.argv[1] == "fork")
try:
    found, _ = every_mutant(mutator.lab, mutator.lab_path)
    print(json.dumps([r.as_json() for r in mutator.run(found)]))
finally:
    mutator.close()
"""


def measure(project: Path, mode: str) -> tuple[float, float, list[object]]:
    """CPU seconds, wall seconds and verdicts of one run."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    r = subprocess.run([sys.executable, "-c", _RUN, mode], cwd=project, capture_output=True, text=True)
    took = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if r.returncode != 0:
        raise SystemExit(f"mutate ({mode}) failed:\n{r.stderr[-3000:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return cpu, took, json.loads(r.stdout)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rounds", type=int, default=3)
    rounds = ap.parse_args().rounds
    with tempfile.TemporaryDirectory() as tmp:
        init = subprocess.run(
            [sys.executable, "-m", "nslab.cli", "init", "proj"], cwd=tmp, capture_output=True, text=True
        )
        if init.returncode != 0:
            raise SystemExit(f"nslab init failed:\n{init.stderr[-2000:]}")
        project = Path(tmp) / "proj"
        cpu: dict[str, list[float]] = {"popen": [], "fork": []}
        took: dict[str, list[float]] = {"popen": [], "fork": []}
        verdicts: dict[str, list[object]] = {}
        for _ in range(rounds):  # interleaved: drift and the machine's other load hit both alike
            for mode in ("popen", "fork"):
                c, w, v = measure(project, mode)
                cpu[mode].append(c)
                took[mode].append(w)
                if verdicts.setdefault(mode, v) != v:
                    raise SystemExit(f"{mode}: the verdicts changed between rounds")
    if verdicts["popen"] != verdicts["fork"]:
        raise SystemExit("the zygote's verdicts differ from a fresh behave's: a wrong answer")
    n = len(verdicts["fork"])
    p, f = statistics.median(cpu["popen"]), statistics.median(cpu["fork"])
    pw, fw = statistics.median(took["popen"]), statistics.median(took["fork"])
    print(f"{'mutate, a fresh python -m behave per mutant':<46} {p:6.2f} CPU-s  {pw:6.2f} s wall")
    print(
        f"{'mutate, mutants forked from the zygote':<46} {f:6.2f} CPU-s  {fw:6.2f} s wall  ({f / p:.3f}x CPU)"
    )
    print(
        f"{n} mutants, the same verdicts; the zygote saves {(p - f) / n:.3f} CPU-s a mutant (rounds={rounds})"
    )


if __name__ == "__main__":
    main()
