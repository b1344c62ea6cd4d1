"""Probes: build a check's command, run it through a runner, hand back a typed result.

Building the command is separate from judging it (as in netlab): steps decide what a
result means. A runner is anything with `run(cmd, ns=...)`: a World, usually.

>>> ping_argv("10.16.0.3", count=3, interval=0.02, wait=0.15)
['ping', '-n', '-c', '3', '-i', '0.02', '-W', '0.15', '10.16.0.3']
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

from nslab import parse
from nslab.targets.base import Command, Result


class Runner(Protocol):
    def run(
        self,
        cmd: Command,
        *,
        ns: str | None = None,
        env: Mapping[str, str] | None = None,
        stdin: str | None = None,
        timeout: float = 60.0,
        check: bool = False,
    ) -> Result: ...


@dataclass(frozen=True)
class Ping:
    """A ping's verdict and the raw output it came from (for the diagnostics bundle)."""

    result: parse.PingResult
    raw: Result


def ping_argv(dest: str, *, count: int, interval: float, wait: float) -> list[str]:
    """Still `count` packets like the seed, but a short wait for replies: a lost packet
    costs `wait` seconds instead of ping's default linger of up to 10 s."""
    # No -w: with a deadline, iputils keeps sending until it expires. The runner's
    # timeout is the hard stop instead.
    return ["ping", "-n", "-c", str(count), "-i", f"{interval:g}", "-W", f"{wait:g}", dest]


def ping(
    runner: Runner,
    ns: str,
    dest: ipaddress.IPv4Address | str,
    *,
    count: int = 3,
    interval: float = 0.02,
    wait: float = 0.15,
) -> Ping:
    raw = runner.run(
        ping_argv(str(dest), count=count, interval=interval, wait=wait),
        ns=ns,
        timeout=count * interval + wait + 10,
    )
    return Ping(parse.ping(raw.stdout + raw.stderr), raw)


def route_text(runner: Runner, ns: str | None) -> str:
    """`ip route` as the seed prints it, trailing blanks trimmed per line."""
    out = runner.run(["ip", "route"], ns=ns, check=True).stdout
    return "\n".join(line.rstrip() for line in out.splitlines())


def routes(runner: Runner, ns: str | None) -> list[parse.Route]:
    return parse.routes(runner.run(["ip", "-j", "route"], ns=ns, check=True).stdout)


def ruleset(runner: Runner, ns: str | None = None) -> parse.Ruleset:
    """Every table, chain, rule and counter (`iptables-save -c`)."""
    return parse.iptables_save(runner.run(["iptables-save", "-c"], ns=ns, check=True).stdout)


def iptables_list(runner: Runner, ns: str | None = None) -> str:
    """`iptables -L` text, for assertions that quote the seed literally."""
    return runner.run(["iptables", "-L"], ns=ns, check=True).stdout


def sysctl(runner: Runner, key: str, ns: str | None = None) -> str:
    return runner.run(["sysctl", "-n", key], ns=ns, check=True).stdout.strip()


def lookup(runner: Runner, ns: str, name: str) -> Result:
    """Resolve a name the way programs in the namespace do (nsswitch, resolv.conf)."""
    return runner.run(["getent", "hosts", name], ns=ns, timeout=15)


def seen_sources(runner: Runner, upstream_ns: str) -> list[str]:
    """Source addresses of the echo requests the simulated internet received (xt_recent)."""
    out = runner.run(["cat", "/proc/net/xt_recent/nslab-seen"], ns=upstream_ns).stdout
    return [
        field.split("=", 1)[1]
        for line in out.splitlines()
        for field in line.split()[:1]
        if field.startswith("src=")
    ]
