"""Firewall managers on lab hosts: what ufw and firewalld cost, as ratios in one run.

    .venv/bin/python bench/bench_managers.py            # n=10 of each
    .venv/bin/python bench/bench_managers.py --quick    # n=3

Prints, each a world made, the lab built in it and the world ended:
- a lab with a ufw host (`default deny incoming`, `allow 22/tcp`) against the same lab
  whose host loads, as an iptables file, the very rules ufw wrote there (iptables-save of
  the ufw host, saved once at the start): aim <= 1.5x;
- a lab with a firewalld host to ready (`firewall-cmd --state` says running) against the
  same lab without a firewall: aim <= 2.5 s.
Needs root, ufw and firewalld (.ci/setup installs them).
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from figures import pct, show, timed  # bench/figures.py: python puts the script's folder on the path

from nslab.lab import Lab, load_lab
from nslab.machine.provision import provision
from nslab.machine.targets.local import LocalTarget
from nslab.machine.world import World

HEAD = """
[lab]
name = "bench-managers"
[[network]]
name = "lan"
bridge = "br-lan"
subnet = "10.7.0.0/24"
[[host]]
name = "client"
interfaces = [{ network = "lan", address = "10.7.0.10" }]
[[host]]
name = "web"
interfaces = [{ network = "lan", address = "10.7.0.20" }]
"""


def lab_of(folder: Path, name: str, firewall: str) -> Lab:
    path = folder / f"{name}.toml"
    path.write_text(HEAD + (f"firewall = {firewall}\n" if firewall else ""))
    return load_lab(path)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="n=3 (a smoke check)")
    args = ap.parse_args()
    n = 3 if args.quick else 10
    target = LocalTarget()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        (folder / "web-firewalld").mkdir()
        ufw = lab_of(folder, "ufw", '{ ufw = ["default deny incoming", "allow 22/tcp"] }')
        with World.start(target) as w:  # the rules ufw writes, once, as an iptables file
            provision(w, ufw)
            rules = w.run(["iptables-save"], ns="web", check=True).stdout
        (folder / "web.rules").write_text(
            "\n".join(x for x in rules.splitlines() if not x.startswith("#")) + "\n"
        )
        same = lab_of(folder, "iptables", '{ iptables = "web.rules" }')
        firewalld = lab_of(folder, "firewalld", '{ firewalld = "web-firewalld" }')
        plain = lab_of(folder, "plain", "")

        def build(lab: Lab) -> None:
            with World.start(target) as w:
                provision(w, lab)

        results = {}
        for name, lab in (("plain", plain), ("iptables", same), ("ufw", ufw), ("firewalld", firewalld)):
            results[name] = timed(lambda lab=lab: build(lab), n)  # type: ignore[misc]
    show("plain lab (no firewall): world + build", results["plain"])
    show("web loads ufw's rules as an iptables file", results["iptables"])
    show("web runs ufw (2 commands, then enable)", results["ufw"])
    show("web runs firewalld, to ready", results["firewalld"])
    med = {k: pct(v, 0.5) for k, v in results.items()}  # the p50 the lines above show
    print(f"ufw / the same rules as a file: {med['ufw'] / med['iptables']:.2f}x (aim <= 1.5x)")
    print(
        f"firewalld to ready: {med['firewalld']:.2f} s p50, {pct(results['firewalld'], 0.95):.2f} s p95 "
        f"(aim <= 2.5 s); the plain lab {med['plain'] * 1000:.0f} ms"
    )


if __name__ == "__main__":
    main()
