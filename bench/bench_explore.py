"""nslab explore and nslab diff: figures, and ratios against baselines measured in the same run.

    .venv/bin/python bench/bench_explore.py            # everything (the naive baseline ~1.5 min)
    .venv/bin/python bench/bench_explore.py --quick    # fewer rounds; the 5- and 10-node labs

Prints: the dmz lab's explore and a diff of two dmz variants (wall, targets <= 2 s and
<= 3 s); the same flows probed one by one with `nc -z -w 1` / `ping -c 1 -W 1` (target
>= 50x slower); what one accepted TCP flow's verdict costs in the batch against one bare
`nc -z` (target: no more); flows per second and peak memory for generated labs of 5, 10
and 20 nodes with 10 ports (target: 20 nodes <= 30 s).
"""

from __future__ import annotations

import argparse
import resource
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

from figures import ROOT, wall  # bench/figures.py: python puts the script's folder on the path

from nslab.config import Settings
from nslab.lab import load_lab
from nslab.reach import explore, flows
from nslab.reach.review import measure
from nslab.scenario.session import LabSession

NSLAB = [str(ROOT / ".venv" / "bin" / "nslab")]
DMZ = ROOT / "labs" / "dmz.toml"


def line(name: str, value: str, note: str = "") -> None:
    print(f"{name:<52} {value:>14}   {note}")


def naive(lab_file: Path) -> tuple[float, int, float]:
    """The dmz lab's flows one by one, a process each (nc -z -w 1, ping -c 1 -W 1), with
    nslab's listeners in place so the answers are the same; and one accepted nc -z."""
    session = LabSession.open(Settings(lab=str(lab_file)))
    try:
        session.new_world()
        session.provision()
        ex = explore.Explorer(session)
        todo = flows.derive(session.lab)
        for f in todo:
            ex._listen(f)
        w = session.w
        start = time.perf_counter()
        for f in todo:
            src, dst = ex.where[f.src], ex.where[f.dst].address(f.v6)
            argv = ["ping", "-c", "1", "-W", "1", str(dst)] if f.proto == "icmp" else ["nc", "-z", "-w", "1"]
            if f.proto == "udp":
                argv.append("-u")
            if f.proto != "icmp":
                argv += [str(dst), str(f.port)]
            w.run(argv, ns=src.ns)
        total = time.perf_counter() - start
        one = []
        for _ in range(20):
            start = time.perf_counter()
            w.run(["nc", "-z", "-w", "1", "10.2.0.20", "5432"], ns="pc")
            one.append(time.perf_counter() - start)
        return total, len(todo), statistics.median(one)
    finally:
        session.close()


def generated(nodes: int, ports: int, where: Path) -> Path:
    """A lab of `nodes` hosts: a router `gw` between a LAN and a server network (the hosts
    split between them), dual-stack, an nft ruleset matching `ports` ports, the internet
    behind the router."""
    half = (nodes - 1) // 2
    tcp = [8000 + i for i in range(ports // 2)]
    udp = [9000 + i for i in range(ports - ports // 2)]
    (where / "gw.nft").write_text(
        "flush ruleset\ntable inet gw {\n  chain forward {\n"
        "    type filter hook forward priority filter; policy drop;\n"
        "    ct state established,related counter accept\n"
        f'    iifname "eth0" oifname "eth1" tcp dport {{ {", ".join(map(str, tcp))} }} counter accept\n'
        f'    iifname "eth0" oifname "eth1" udp dport {{ {", ".join(map(str, udp))} }} counter accept\n'
        '    iifname "eth0" oifname "uplink0" counter accept\n    counter drop\n  }\n}\n'
        "table ip nat {\n  chain post {\n    type nat hook postrouting priority srcnat; policy accept;\n"
        '    oifname "uplink0" counter masquerade\n  }\n}\n'
    )
    out = [
        '[lab]\nname = "gen"\n[firewall]\nbackend = "nftables"\n[upstream]\nvia = "gw"\n',
        '[[network]]\nname = "lan"\nsubnet = "10.1.0.0/24"\nsubnet6 = "2001:db8:1::/64"\n',
        '[[network]]\nname = "srv"\nsubnet = "10.2.0.0/24"\nsubnet6 = "2001:db8:2::/64"\n',
        '[[host]]\nname = "gw"\nrouter = true\nfirewall = { nft = "gw.nft" }\ninterfaces = [\n'
        '  { network = "lan", address = "10.1.0.1", address6 = "2001:db8:1::1" },\n'
        '  { network = "srv", address = "10.2.0.1", address6 = "2001:db8:2::1" },\n]\n',
    ]
    for i in range(1, nodes):
        net, n = ("lan", 1) if i <= half else ("srv", 2)
        leg = f'network = "{net}", address = "10.{n}.0.{10 + i}", address6 = "2001:db8:{n}::{10 + i:x}"'
        out.append(
            f'[[host]]\nname = "h{i}"\nroutes = ["default via 10.{n}.0.1", "default via 2001:db8:{n}::1"]\n'
            f"interfaces = [{{ {leg} }}]\n"
        )
    lab = where / "gen.toml"
    lab.write_text("".join(out))
    return lab


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="fewer rounds; no 20-node lab, no naive baseline")
    quick = ap.parse_args().quick
    rounds = 2 if quick else 5
    quiet = {"progress": lambda _: None}

    dmz = load_lab(DMZ)
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        got = measure(Settings(), dmz, **quiet)  # type: ignore[arg-type]
        times.append(time.perf_counter() - start)
    n_dmz = len(got)
    line(f"explore dmz ({n_dmz} flows), in process", f"{statistics.median(times):8.2f} s", "(target <= 2 s)")
    cli = statistics.median(wall([*NSLAB, "explore", "--lab", str(DMZ)]) for _ in range(rounds))
    line("  nslab explore --lab labs/dmz.toml (wall)", f"{cli:8.2f} s")
    with tempfile.TemporaryDirectory() as tmp:
        other = Path(tmp) / "dmz.toml"
        other.write_text(DMZ.read_text())
        nft = (ROOT / "labs" / "dmz-edge.nft").read_text().replace("{ 443, 5432 }", "443")
        (Path(tmp) / "dmz-edge.nft").write_text(nft)
        diffs = []
        for _ in range(rounds):
            start = time.perf_counter()
            r = subprocess.run(
                [*NSLAB, "diff", "--lab", str(other), "--against", str(DMZ)], capture_output=True
            )
            diffs.append(time.perf_counter() - start)
            if r.returncode != 1:  # 1: flows changed, as they must
                raise SystemExit(f"nslab diff failed: {r.stdout!r} {r.stderr!r}")
        line("nslab diff of two dmz variants (wall)", f"{statistics.median(diffs):8.2f} s", "(target <= 3 s)")

    batch = statistics.median(times)
    if not quick:
        total, n, one_nc = naive(DMZ)
        line(f"the same {n} flows one by one (nc -z -w 1, ping -W 1)", f"{total:8.2f} s",
             f"{total / batch:6.1f}x slower than explore (target >= 50x)")  # fmt: skip
        line("one accepted nc -z (bare, same run)", f"{one_nc * 1000:8.2f} ms")
        line("one flow's verdict and rule in the batch (amortized)", f"{batch / n_dmz * 1000:8.2f} ms",
             f"{one_nc / (batch / n_dmz):6.1f}x cheaper than one nc -z")  # fmt: skip

    for nodes in (5, 10) if quick else (5, 10, 20):
        with tempfile.TemporaryDirectory() as tmp:
            lab = load_lab(generated(nodes, 10, Path(tmp)))
            start = time.perf_counter()
            got = measure(Settings(), lab, **quiet)  # type: ignore[arg-type]
            seconds = time.perf_counter() - start
        note = "(target <= 30 s)" if nodes == 20 else ""
        line(f"generated lab, {nodes} nodes, 10 ports: {len(got)} flows", f"{seconds:8.2f} s",
             f"{len(got) / seconds:7.0f} flows/s {note}")  # fmt: skip
    me = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    helpers = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    line("peak memory: nslab / its largest helper", f"{me:5.0f} / {helpers:3.0f} MiB")


if __name__ == "__main__":
    main()
