"""`nslab doctor`: can this machine run labs? Each check says what to install or enable.

Kernel features are probed inside a throwaway world, so the doctor itself never changes
the host's network. Loading a module (br_netfilter) is a host-wide change: the doctor
names it and leaves the decision to the user.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from nslab.errors import NslabError
from nslab.machine.targets.base import Target
from nslab.machine.world import World
from nslab.tools import TOOLS


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str
    fix: str = ""


def check_tools(target: Target) -> list[Check]:
    checks = []
    script = 'for t in "$@"; do command -v "$t" >/dev/null || echo "$t"; done'
    missing = set(target.run(["sh", "-c", script, "doctor", *TOOLS]).stdout.split())
    for tool, (package, why) in TOOLS.items():
        if tool in missing:
            checks.append(Check(f"tool {tool}", False, f"not found ({why})", f"apt-get install {package}"))
        else:
            checks.append(Check(f"tool {tool}", True, why))
    return checks


def check_privileges(target: Target) -> Check:
    if target.is_root:
        return Check("privileges", True, "running as root")
    out = target.run(
        [
            "sh",
            "-c",
            "cat /proc/sys/user/max_user_namespaces /proc/sys/kernel/unprivileged_userns_clone 2>/dev/null",
        ]
    ).stdout.split()
    if out and all(v != "0" for v in out):
        return Check("privileges", True, "not root: worlds will use a user namespace")
    return Check(
        "privileges",
        False,
        "not root and unprivileged user namespaces are off",
        "run as root (sudo), or sysctl -w kernel.unprivileged_userns_clone=1",
    )


# name -> (argv run in a world, what it means, fix)
FEATURES: dict[str, tuple[list[str], str, str]] = {
    "network namespaces": (
        ["ip", "netns", "add", "doctor"],
        "ip netns add works in a world",
        "use a kernel with CONFIG_NET_NS",
    ),
    "bridge": (
        ["ip", "link", "add", "doctor-br", "type", "bridge"],
        "bridges can be created",
        "modprobe bridge (CONFIG_BRIDGE)",
    ),
    "veth": (
        ["ip", "link", "add", "doctor-a", "type", "veth", "peer", "name", "doctor-b"],
        "veth pairs can be created",
        "modprobe veth (CONFIG_VETH)",
    ),
    "bridge netfilter": (
        ["test", "-e", "/proc/sys/net/bridge/bridge-nf-call-iptables"],
        "bridged frames can go through iptables",
        "modprobe br_netfilter (a host-wide change: do it on a disposable machine)",
    ),
    "nat": (
        ["iptables", "-w", "-t", "nat", "-A", "POSTROUTING", "-s", "10.16.0.0/24", "-j", "MASQUERADE"],
        "MASQUERADE rules load",
        "modprobe iptable_nat / nft_masq (CONFIG_NF_NAT)",
    ),
    "conntrack": (
        ["iptables", "-w", "-A", "FORWARD", "-m", "conntrack", "--ctstate", "ESTABLISHED", "-j", "ACCEPT"],
        "conntrack matches load",
        "modprobe nf_conntrack xt_conntrack",
    ),
    "recent": (
        ["iptables", "-w", "-A", "INPUT", "-m", "recent", "--set", "--name", "doctor"],
        "the upstream can record who pinged it (xt_recent)",
        "modprobe xt_recent",
    ),
    "ipv6": (
        ["test", "-e", "/proc/sys/net/ipv6/conf/all/forwarding"],
        "IPv6 (labs with subnet6; scenarios needing it skip without)",
        "boot without ipv6.disable=1 (CONFIG_IPV6)",
    ),
    "nftables": (
        ["nft", "add", "table", "inet", "doctor"],
        "native nft rulesets load (labs with nft files; skipped without)",
        "apt-get install nftables; modprobe nf_tables (CONFIG_NF_TABLES)",
    ),
}


def check_kernel(target: Target) -> list[Check]:
    try:
        world = World.start(target)
    except NslabError as exc:
        return [Check("worlds", False, exc.problem, exc.fix)]
    checks = [Check("worlds", True, "unshare --net --mount --pid works")]
    with world:
        for name, (argv, meaning, fix) in FEATURES.items():
            r = world.run(argv, timeout=10)
            detail = meaning if r.ok else (r.output.strip().splitlines() or ["failed"])[-1]
            checks.append(Check(f"kernel {name}", r.ok, detail, "" if r.ok else fix))
    return checks


def run_checks(target: Target, progress: Callable[[Check], None] | None = None) -> list[Check]:
    checks = [check_privileges(target), *check_tools(target)]
    if checks[0].ok and all(c.ok for c in checks if c.name in ("tool unshare", "tool nsenter", "tool ip")):
        checks += check_kernel(target)
    for c in checks:
        if progress:
            progress(c)
    return checks
