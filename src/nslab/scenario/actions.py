"""The seed story's single commands, one function each, as the blog types them.

Stages build a lab, probes read it, actions change one thing in it: steps call these and
never assemble an `ip` or `iptables` line themselves. A runner is a World (or anything
with its `run`).

>>> cidr("10.16.0.0/24")
'10.16.0.0/24'
"""

from __future__ import annotations

import ipaddress

from nslab import parse
from nslab.commands import Result, Runner
from nslab.errors import LabError
from nslab.lab.checks import BUILTIN_CHAINS, CHAIN_RE, POLICIES
from nslab.probe import checks as probe


def cidr(text: str) -> str:
    try:
        return str(ipaddress.IPv4Network(text))
    except ValueError:
        raise LabError(f"{text!r} is not an IPv4 subnet", "write it like 10.16.0.0/24") from None


def iptables(runner: Runner, *args: str, ns: str | None = None, v6: bool = False) -> Result:
    return runner.run(["ip6tables" if v6 else "iptables", "-w", *args], ns=ns, check=True)


def set_policy(runner: Runner, chain: str, policy: str, v6: bool = False) -> None:
    """`iptables -P FORWARD DROP` (the seed story, docs/seed-story.md section 2); with
    `v6`, ip6tables' (an Ubuntu host with Docker has `ip6 filter` FORWARD policy drop)."""
    if policy not in POLICIES:
        raise LabError(f"{chain} policy {policy!r} is not ACCEPT or DROP", "write ACCEPT or DROP")
    iptables(runner, "-P", chain, policy, v6=v6)


def _valid(chain: str) -> str:
    if not CHAIN_RE.match(chain):
        raise LabError(f"{chain!r} is not a valid chain name", "use letters, digits, '_' and '-'")
    return chain


def chain_names(runner: Runner) -> list[str]:
    return probe.ruleset(runner).chain_names()


def require_chain(runner: Runner, chain: str, ns: str | None = None) -> parse.Chain:
    """The chain as iptables-save shows it (rules and counters), in namespace `ns` (None:
    the lab's host); a step naming a chain that is not there fails listing the chains that are."""
    rules = probe.ruleset(runner, ns)
    found = rules.chain(_valid(chain))
    if found is None:
        names = rules.chain_names()
        whose = f"{ns}'s" if ns else "the"
        raise LabError(
            f"no chain '{chain}' in {whose} filter table",
            "existing chains: " + (", ".join(names) or "none, the table is still empty"),
        )
    return found


def ensure_chain(runner: Runner, chain: str, v6: bool = False) -> None:
    """The seed's custom chain shape: jumped to first from FORWARD, ending in RETURN (in
    ip6tables with `v6`)."""
    if _valid(chain).upper() in BUILTIN_CHAINS:
        raise LabError(f"{chain} is a built-in chain, not a custom one", "choose a custom name like NAVY")
    there = runner.run(["ip6tables", "-w", "-S", chain]).rc == 0 if v6 else chain in chain_names(runner)
    if not there:
        iptables(runner, "-N", chain, v6=v6)
        iptables(runner, "-I", "FORWARD", "1", "-j", chain, v6=v6)
        iptables(runner, "-A", chain, "-j", "RETURN", v6=v6)


def accept(runner: Runner, chain: str, src: str, dst: str) -> None:
    """`iptables -I NAVY 1 -s SRC -d DST -j ACCEPT` (the seed story, docs/seed-story.md section 3)."""
    ensure_chain(runner, chain)
    iptables(runner, "-I", chain, "1", "-s", cidr(src), "-d", cidr(dst), "-j", "ACCEPT")


def remove_accept(runner: Runner, chain: str, src: str, dst: str) -> None:
    require_chain(runner, chain)
    iptables(runner, "-D", chain, "-s", cidr(src), "-d", cidr(dst), "-j", "ACCEPT")


def accept_nothing(runner: Runner, chain: str) -> None:
    """The seed's chain shape with no ACCEPT in it: made if missing, and every ACCEPT an
    earlier step or the firewall stage put there deleted (bottom up, so the numbers hold)."""
    ensure_chain(runner, chain)
    rules = require_chain(runner, chain).rules
    for number in reversed([i for i, r in enumerate(rules, 1) if r.target == "ACCEPT"]):
        iptables(runner, "-D", chain, str(number))


def before_return(rules: list[parse.Rule], wanted: int) -> int:
    """The insert position `wanted` (1-based), or the chain's first RETURN's if that comes
    earlier: a rule inserted after the RETURN is dead (NAVY made by `accepts nothing` holds
    the RETURN alone, so the seed's `-I NAVY 2` would land after it)."""
    returns = [i for i, r in enumerate(rules, 1) if r.target == "RETURN" and r.spec == "-j RETURN"]
    return min(wanted, len(rules) + 1, *returns)


def accept_out_of(runner: Runner, chain: str, bridge: str) -> None:
    """`iptables -I NAVY 2 -o br0 -j ACCEPT` (the seed story, docs/seed-story.md section 4),
    never below the chain's RETURN."""
    position = before_return(require_chain(runner, chain).rules, 2)
    iptables(runner, "-I", chain, str(position), "-o", bridge, "-j", "ACCEPT")


def accept_out_of_v6(runner: Runner, chain: str, bridge: str) -> None:
    """The same for IPv6: the chain made in ip6tables as the seed's is made if it is not
    there, the ACCEPT at its top."""
    ensure_chain(runner, chain, v6=True)
    iptables(runner, "-I", chain, "1", "-o", bridge, "-j", "ACCEPT", v6=True)


def add_address(runner: Runner, address: str, dev: str) -> None:
    """`ip a add 10.16.0.1/24 dev br0`: the bridge becomes the gateway."""
    runner.run(["ip", "addr", "add", address, "dev", dev], check=True)


def default_route(runner: Runner, ns: str, via: str, dev: str) -> None:
    """`ip netns exec red ip route add 0.0.0.0/0 via 10.16.0.1 dev veth1-red`."""
    runner.run(["ip", "route", "add", "0.0.0.0/0", "via", via, "dev", dev], ns=ns, check=True)


def bridge_netfilter(runner: Runner, on: bool) -> None:
    runner.run(["sysctl", "-qw", f"net.bridge.bridge-nf-call-iptables={int(on)}"], check=True)
