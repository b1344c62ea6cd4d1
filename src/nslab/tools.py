"""The programs nslab runs on a target, and the Debian/Ubuntu package that brings each."""

from __future__ import annotations

import re

# tool -> (package, why nslab needs it)
TOOLS: dict[str, tuple[str, str]] = {
    "ip": ("iproute2", "namespaces, links, addresses, routes"),
    "iptables": ("iptables", "the FORWARD chain, NAVY, NAT"),
    "iptables-save": ("iptables", "reading rules and counters"),
    "iptables-restore": ("iptables", "applying a stage's rules in one go"),
    "ping": ("iputils-ping", "the probes"),
    "unshare": ("util-linux", "creating worlds"),
    "nsenter": ("util-linux", "running commands in worlds"),
    "sysctl": ("procps", "bridge netfilter and forwarding"),
    "dnsmasq": ("dnsmasq-base", "the simulated internet's DNS server"),
    "getent": ("libc-bin", "name look-ups inside namespaces"),
    "bash": ("bash", "the provision stages"),
    "ss": ("iproute2", "listening sockets in namespaces"),
    "conntrack": ("conntrack", "connection tracking evidence"),
    "nft": ("nftables", "native nft rulesets of a lab's hosts"),
    "ip6tables": ("iptables", "IPv6 rules of dual-stack labs"),
    "python3": ("python3-minimal", "the probe helper (TCP/UDP probes and listeners)"),
    "dockerd": ("docker.io", "Docker on lab hosts (labs with docker = {...}; skipped without)"),
    "busybox": ("busybox-static", "the offline image of Docker's containers (static: ldd says so)"),
}

_NOT_FOUND = (
    re.compile(r"(?:^|\s)([\w.+-]+): (?:command )?not found"),
    re.compile(r"failed to execute ([\w.+-]+): No such file"),
    re.compile(r"exec: ([\w.+-]+): not found"),
)


def install_hint(tool: str) -> str:
    package = TOOLS.get(tool, (tool, ""))[0]
    return f"apt-get install {package}"


def missing_from(text: str) -> str | None:
    """The tool a command's error output says is missing, if it says so."""
    for pattern in _NOT_FOUND:
        m = pattern.search(text)
        if m:
            return m.group(1)
    return None
