"""TCP/UDP probe benchmarks, against `nc -z -w 1` run one by one in the same world.

    .venv/bin/python bench/bench_ports.py            # 1,000 verdicts per outcome class
    .venv/bin/python bench/bench_ports.py --quick    # 100 per class

Prints p50/p95 per outcome class (accepted, refused, dropped, rejected, answered, no
answer) with how many of N verdicts were wrong, the same TCP verdicts by `nc -z -w 1`
(accepted, refused, dropped: one process each), and a 48-probe reachability matrix's wall
time. Targets (issue 11): accepted and refused p50 <= 10 ms, dropped <= 0.3 s, 48-probe
matrix <= 1.5 s, 0 wrong verdicts.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import time

from figures import show  # bench/figures.py: python puts the script's folder on the path

from nslab.config import Settings
from nslab.probe import matrix
from nslab.scenario.session import LabSession


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="100 verdicts per class instead of 1,000")
    n = 100 if ap.parse_args().quick else 1000
    s = LabSession.open(Settings())
    try:
        s.new_world()
        s.provision(only=["topology"])
        s.provision(only=["sysctl"])
        s.w.run(
            ["ip", "addr", "add", "10.16.0.1/24", "dev", "br0"], check=True
        )  # REJECT's ICMP needs a route
        s.listen("blue", "tcp", 80)
        s.listen("blue", "udp", 53)
        iptables = ["iptables", "-w"]
        reject = [
            "FORWARD",
            "-p",
            "tcp",
            "--dport",
            "8443",
            "-j",
            "REJECT",
            "--reject-with",
            "icmp-admin-prohibited",
        ]
        s.w.run([*iptables, "-I", *reject], check=True)

        classes = [
            ("tcp accepted", "tcp", 80, "accepted", None),
            ("tcp refused (nothing listens)", "tcp", 81, "refused", None),
            ('tcp rejected with "admin-prohibited"', "tcp", 8443, "rejected", None),
            ("udp answered (echo)", "udp", 53, "answered", None),
            ('udp rejected with "port-unreachable"', "udp", 54, "rejected", None),
            ("tcp dropped (FORWARD policy DROP)", "tcp", 80, "dropped", "DROP"),
            ("udp no answer (FORWARD policy DROP)", "udp", 53, "no answer", "DROP"),
        ]
        medians = {}
        for name, proto, port, want, policy in classes:
            if policy:
                s.w.run([*iptables, "-P", "FORWARD", policy], check=True)
            count = n if want not in ("dropped", "no answer") else max(20, n // 10)
            times, wrong = [], 0
            for _ in range(count):
                start = time.perf_counter()
                conn = s.connect("red", "blue", proto, port)
                times.append(time.perf_counter() - start)
                wrong += conn.outcome.outcome != want
            medians[want + proto] = statistics.median(times)
            show(name, times, f"wrong {wrong} of {count}")
        s.w.run([*iptables, "-P", "FORWARD", "ACCEPT"], check=True)

        if shutil.which("nc"):
            for name, port, policy in (
                ("accepted", 80, "ACCEPT"),
                ("refused", 81, "ACCEPT"),
                ("dropped", 80, "DROP"),
            ):
                s.w.run([*iptables, "-P", "FORWARD", policy], check=True)
                times = []
                for _ in range(20 if policy == "DROP" else 100):
                    start = time.perf_counter()
                    s.w.run(["nc", "-z", "-w", "1", "10.16.0.3", str(port)], ns="red", timeout=10)
                    times.append(time.perf_counter() - start)
                ours = medians[name + "tcp"]
                show(
                    f"  nc -z -w 1, {name} (one process each)",
                    times,
                    f"nslab {statistics.median(times) / ours:.1f}x faster",
                )
            s.w.run([*iptables, "-P", "FORWARD", "ACCEPT"], check=True)
        else:
            print("  (no nc: apt-get install netcat-openbsd for the baseline)")

        # 48 probes: 12 of each of four services, half of them dropped by a rule
        s.w.run([*iptables, "-I", "FORWARD", "-p", "tcp", "--dport", "22", "-j", "DROP"], check=True)
        cells = []
        for _ in range(12):
            cells += [
                ["red", "blue", "tcp/80", "accepted"],
                ["red", "blue", "tcp/22", "dropped"],
                ["red", "blue", "udp/53", "answered"],
                ["blue", "red", "icmp", "replies"],
            ]
        table = matrix.rows(list(matrix.COLUMNS), cells)
        walls = []
        for _ in range(5):
            start = time.perf_counter()
            wrong = matrix.run(s, table)
            walls.append(time.perf_counter() - start)
            assert not wrong, matrix.report(wrong, len(table))
        show("48-probe reachability matrix (wall)", walls, "(target <= 1.5 s)")
    finally:
        s.close()


if __name__ == "__main__":
    main()
