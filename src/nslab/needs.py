"""What nslab needs of a target: its tools and kernel features, in one table.

`nslab doctor` checks every row (kernel rows inside a throwaway world: some load rules);
a session asks the target for what a lab, a stage (`# needs: NAME`) or a step needs and
skips the scenario naming the row's fix; `nslab.tools` names the package of a missing
tool. A new need is one row here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from nslab.errors import LabError


@dataclass(frozen=True)
class Need:
    name: str
    kind: Literal["tool", "kernel", "manager"]
    check: tuple[str, ...]  # succeeds where the target has it (kernel rows: run in a world)
    what: str  # tools: what nslab uses it for; kernel rows: what working means
    fix: str
    package: str = ""  # tools: the Debian package that brings it
    # whether a session may run the check on the target itself: it only reads (tools'
    # `command -v`, a /proc file); the other kernel checks add links or rules
    reads_only: bool = False
    programs: tuple[str, ...] = ()  # managers: the programs it runs (the doctor names those missing)


def _manager(name: str, programs: tuple[str, ...], what: str) -> Need:
    """A firewall manager of lab hosts (nslab.managers), its Debian package named like it:
    every program it runs must be there."""
    check = ("sh", "-c", 'for p in "$@"; do command -v "$p" >/dev/null || exit 1; done', "needs", *programs)
    return Need(name, "manager", check, what, f"apt-get install {name}", name, True, programs)


def _tool(name: str, package: str, what: str) -> Need:
    # `command -v` in sh: the tool as the target's PATH finds it, without running it
    check = ("sh", "-c", f"command -v {name}")
    return Need(name, "tool", check, what, f"apt-get install {package}", package, reads_only=True)


NEEDS: tuple[Need, ...] = (
    _tool("ip", "iproute2", "namespaces, links, addresses, routes"),
    _tool("iptables", "iptables", "the FORWARD chain, NAVY, NAT"),
    _tool("iptables-save", "iptables", "reading rules and counters"),
    _tool("iptables-restore", "iptables", "applying a stage's rules in one go"),
    _tool("ping", "iputils-ping", "the probes"),
    _tool("unshare", "util-linux", "creating worlds"),
    _tool("nsenter", "util-linux", "running commands in worlds"),
    _tool("sysctl", "procps", "bridge netfilter and forwarding"),
    _tool("dnsmasq", "dnsmasq-base", "the simulated internet's DNS server"),
    _tool("getent", "libc-bin", "name look-ups inside namespaces"),
    _tool("bash", "bash", "the provision stages"),
    _tool("ss", "iproute2", "listening sockets in namespaces"),
    _tool("conntrack", "conntrack", "connection tracking evidence"),
    _tool("nft", "nftables", "native nft rulesets of a lab's hosts"),
    _tool("ip6tables", "iptables", "IPv6 rules of dual-stack labs"),
    _tool("python3", "python3-minimal", "the probe helper (TCP/UDP probes and listeners)"),
    _tool("dockerd", "docker.io", "Docker on lab hosts (labs with docker = {...}; skipped without)"),
    _tool("busybox", "busybox-static", "the offline image of Docker's containers (static: ldd says so)"),
    Need(
        "network namespaces",
        "kernel",
        ("ip", "netns", "add", "doctor"),
        "ip netns add works in a world",
        "use a kernel with CONFIG_NET_NS",
    ),
    Need(
        "bridge",
        "kernel",
        ("ip", "link", "add", "doctor-br", "type", "bridge"),
        "bridges can be created",
        "modprobe bridge (CONFIG_BRIDGE)",
    ),
    Need(
        "veth",
        "kernel",
        ("ip", "link", "add", "doctor-a", "type", "veth", "peer", "name", "doctor-b"),
        "veth pairs can be created",
        "modprobe veth (CONFIG_VETH)",
    ),
    Need(
        "bridge netfilter",
        "kernel",
        ("test", "-e", "/proc/sys/net/bridge/bridge-nf-call-iptables"),
        "bridged frames can go through iptables",
        "load it with 'modprobe br_netfilter' on a disposable machine: a host-wide change, see nslab doctor",
        reads_only=True,
    ),
    Need(
        "nat",
        "kernel",
        ("iptables", "-w", "-t", "nat", "-A", "POSTROUTING", "-s", "10.16.0.0/24", "-j", "MASQUERADE"),
        "MASQUERADE rules load",
        "modprobe iptable_nat / nft_masq (CONFIG_NF_NAT)",
    ),
    Need(
        "conntrack",
        "kernel",
        ("iptables", "-w", "-A", "FORWARD", "-m", "conntrack", "--ctstate", "ESTABLISHED", "-j", "ACCEPT"),
        "conntrack matches load",
        "modprobe nf_conntrack xt_conntrack",
    ),
    Need(
        "recent",
        "kernel",
        ("iptables", "-w", "-A", "INPUT", "-m", "recent", "--set", "--name", "doctor"),
        "the upstream can record who pinged it (xt_recent)",
        "modprobe xt_recent",
    ),
    Need(
        "IPv6",
        "kernel",
        ("test", "-e", "/proc/sys/net/ipv6/conf/all/forwarding"),
        "IPv6 (labs with subnet6; scenarios needing it skip without)",
        "a kernel with IPv6: boot without ipv6.disable=1 (CONFIG_IPV6)",
        reads_only=True,
    ),
    Need(
        "nftables",
        "kernel",
        ("nft", "add", "table", "inet", "doctor"),
        "native nft rulesets load (labs with nft files; skipped without)",
        "apt-get install nftables; modprobe nf_tables (CONFIG_NF_TABLES)",
    ),
    # firewall managers on lab hosts (nslab.managers): optional; a lab naming one skips its
    # scenarios on a target without it, naming the package (nslab doctor lists them apart)
    _manager("ufw", ("ufw",), "ufw on lab hosts (firewall = { ufw = ... })"),
    _manager(
        "firewalld",
        ("firewalld", "firewall-cmd", "dbus-daemon"),
        "firewalld on lab hosts, each with its own dbus (firewall = { firewalld = ... })",
    ),
)


def of_kind(kind: Literal["tool", "kernel", "manager"]) -> list[Need]:
    return [n for n in NEEDS if n.kind == kind]


def tool(name: str) -> Need | None:
    return next((n for n in NEEDS if n.kind == "tool" and n.name == name), None)


def asked(name: str) -> Need:
    """The row a lab, stage or step means by `name`: one whose check a session may run on
    the target (a tool, or a kernel row that only reads); a stage's `# needs: conntrack`
    is the tool, since the conntrack match is checked by loading a rule."""
    found = next((n for n in NEEDS if n.name == name and n.reads_only), None)
    if found is None:
        names = ", ".join(sorted({n.name for n in NEEDS if n.reads_only}))
        raise LabError(f"'# needs: {name}': nslab knows no such need", f"name one of: {names}")
    return found
