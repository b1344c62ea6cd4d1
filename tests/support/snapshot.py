"""A lab's state in a world as plain, stable text: links, addresses, routes, rules and
sysctls of every namespace, and the files the stages write. What changes from run to run
(MAC addresses, interface indexes, link-local addresses, counters, lower-layer state) is
left out, so two builds of the same lab give the same text and a golden file can prove
that a refactor of the stages changed nothing.
"""

from __future__ import annotations

import json
import re

from nslab.commands import Runner

SYSCTLS = (
    "net.ipv4.ip_forward",
    "net.ipv6.conf.all.forwarding",
    "net.ipv6.conf.all.accept_dad",
    "net.ipv4.conf.all.rp_filter",
)
HOST_SYSCTLS = ("net.bridge.bridge-nf-call-iptables", "net.bridge.bridge-nf-call-ip6tables")


def _json(runner: Runner, argv: list[str], ns: str | None) -> list[dict]:  # type: ignore[type-arg]
    r = runner.run(argv, ns=ns)
    return json.loads(r.stdout) if r.ok and r.stdout.strip() else []


def _rules(runner: Runner, ns: str | None) -> list[str]:
    out = []
    for tool in ("iptables-save", "ip6tables-save"):
        text = runner.run([tool], ns=ns).stdout
        out += [f"{tool}: " + re.sub(r"\[\d+:\d+\]", "[0:0]", line) for line in text.splitlines()
                if line and not line.startswith("#")]  # fmt: skip
    nft = runner.run(["nft", "list", "ruleset"], ns=ns).stdout
    out += [
        "nft: " + re.sub(r"packets \d+ bytes \d+", "packets N bytes N", line.rstrip())
        for line in nft.splitlines()
        if line.strip() and "# handle" not in line
    ]
    return out


def namespace(runner: Runner, ns: str | None) -> list[str]:
    """One namespace's state, line by line."""
    out = []
    for link in sorted(_json(runner, ["ip", "-j", "-d", "link"], ns), key=lambda x: x["ifname"]):
        flags = ",".join(f for f in link.get("flags", []) if f != "LOWER_UP")
        kind = link.get("linkinfo", {}).get("info_kind", "")
        out.append(
            f"link {link['ifname']} kind={kind} master={link.get('master', '-')} mtu={link['mtu']} {flags}"
        )
    for link in sorted(_json(runner, ["ip", "-j", "addr"], ns), key=lambda x: x["ifname"]):
        for a in link.get("addr_info", []):
            if not a["local"].startswith("fe80:"):
                out.append(f"addr {link['ifname']} {a['local']}/{a['prefixlen']}")
    for family in ("-4", "-6"):
        for r in _json(runner, ["ip", family, "-j", "route"], ns):
            if r["dst"].startswith(("fe80:", "ff00:")):
                continue
            parts = [r["dst"], *(f"{k} {r[k]}" for k in ("gateway", "dev", "scope", "prefsrc") if k in r)]
            out.append(f"route{family} " + " ".join(parts))
    out += _rules(runner, ns)  # in the tools' own order: a rule's place is part of it
    keys = (*SYSCTLS, *(HOST_SYSCTLS if ns is None else ()))
    values = runner.run(["sysctl", "-n", *keys], ns=ns).stdout.split()
    out += [f"sysctl {k} = {v}" for k, v in zip(keys, values, strict=False)]
    return out


def lab(runner: Runner) -> str:
    """Every namespace of the world (the host first), then the files the stages wrote."""
    listed = runner.run(["ip", "netns", "list"]).stdout.splitlines()
    names = sorted(line.split()[0] for line in listed if line.strip())
    out = ["== host", *namespace(runner, None)]
    for name in names:
        out += [f"== {name}", *namespace(runner, name)]
    listing = (
        'cd /etc/netns 2>/dev/null && find . -type f | sort | while read -r f; do echo "file $f";'
        " sed 's/^/  /' \"$f\"; done; ls /run/nslab 2>/dev/null | sed 's/^/run /'"
    )
    files = runner.run(["sh", "-c", listing]).stdout
    return "\n".join([*out, "== files", *files.splitlines()]) + "\n"
