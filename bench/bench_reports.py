"""What the reports cost a run: `behave features/` writing nslab's report, the steps page
and JUnit, against the same run with none of them (`-D html= --no-junit`), and what
`nslab run -j 2` spends merging its workers' JUnit and reports (timed in-process on that
run's own files), in the same run. Target (issue 19): merging and report writing add
<= 0.3 s to the suite.

    .venv/bin/python bench/bench_reports.py [--rounds 3]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

from figures import wall  # bench/figures.py: python puts the script's folder on the path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from nslab.report import html as report  # noqa: E402
from nslab.report import junit  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rounds", type=int, default=3)
    rounds = ap.parse_args().rounds
    behave = [sys.executable, "-m", "behave", "features/", "-f", "progress"]
    with tempfile.TemporaryDirectory() as tmp:
        bare = [*behave, "-D", f"reports={tmp}/b", "-D", "html=", "--no-junit"]
        full = [*behave, "-D", f"reports={tmp}/f", "-D", f"html={tmp}/f/index.html", "--junit-directory",
                f"{tmp}/f/junit"]  # fmt: skip
        base, ours = [], []
        for _ in range(rounds):  # interleaved: drift hits both alike
            base.append(wall(bare))
            ours.append(wall(full))
        par = Path(tmp) / "p"
        wall([sys.executable, "-m", "nslab.cli", "run", "-j", "2", "--reports", str(par)])
        workers = sorted((par / "parallel").glob("junit-*"))
        pages = sorted((par / "parallel").glob("worker-*.json"))
        start = time.perf_counter()
        for _ in range(rounds):
            junit.merge(workers, Path(tmp) / "m" / "junit")
            report.merge(pages, Path(tmp) / "m" / "index.html", [])
        merge = (time.perf_counter() - start) / rounds
    b, o = statistics.median(base), statistics.median(ours)
    print(f"{'behave features/, no reports':<44} {b:6.2f} s")
    print(f"{'behave features/, report + steps + JUnit':<44} {o:6.2f} s   ({o / b:.3f}x)")
    print(f"{'report writing adds':<44} {o - b:6.2f} s   (target <= 0.3 s with the merge)")
    print(f"{'merge of 2 workers (JUnit + report)':<44} {merge:6.3f} s")


if __name__ == "__main__":
    main()
