"""Probes: build a check's command, run it through a runner, hand back a typed result.

Building the command is separate from judging it (as in netlab): steps decide what a
result means. A runner is anything with `run(cmd, ns=...)`: a World, usually.

>>> ping_argv("10.16.0.3", count=3, interval=0.02, wait=0.15)
['ping', '-n', '-c', '3', '-i', '0.02', '-W', '0.15', '10.16.0.3']
"""

from __future__ import annotations

import ipaddress
import re
import shlex
from collections.abc import Sequence
from dataclasses import dataclass, field

from nslab import firewall as firewalls
from nslab import parse
from nslab.commands import Result, Runner, as_argv
from nslab.errors import NO_LAB_FIX, ProbeError
from nslab.firewall import sources
from nslab.firewall.evidence import Evidence, Sources, decisions, uncounted_policies
from nslab.firewall.iptables_parse import iptables_save
from nslab.firewall.nft_parse import nft_json
from nslab.tools import install_hint


@dataclass(frozen=True)
class Ping:
    """A ping's verdict, the raw output it came from and what the firewalls counted."""

    result: parse.PingResult
    raw: Result
    count: int = 3
    evidence: Evidence = field(default_factory=Evidence)
    note: str = ""  # what the evidence alone would leave a reader to guess (an unrouted reject)

    @property
    def sent_all(self) -> bool:
        return self.result.transmitted == self.count

    @property
    def lost(self) -> bool:
        return self.result.received < self.result.transmitted

    def why(self) -> str:
        """Why the replies did or did not come back, with the deciding rule."""
        r = self.result
        if r.transmitted == 0:
            return f"ping sent nothing: {r.error}"
        lost = r.received < r.transmitted
        reason = (
            f"{r.transmitted - r.received} of {r.transmitted} lost ({r.error or 'no reply'})"
            if lost
            else (f"all {r.transmitted} answered")
        )
        return f"{reason}; {self.evidence.summary(lost=lost)}" + (f"; {self.note}" if self.note else "")


def ping_argv(
    dest: str,
    *,
    count: int,
    interval: float,
    wait: float,
    size: int | None = None,
    df: bool = False,
    broadcast: bool = False,
) -> list[str]:
    """Still `count` packets like the seed, but a short wait for replies: a lost packet
    costs `wait` seconds instead of ping's default linger of up to 10 s. `size` bytes of
    data (-s): with `df` never fragmented (-M do: too big for the path is an error), else
    fragmented where needed (-M dont; ping's default sets DF until a router says the path
    MTU, which lost the first packet of three in a test)."""
    # No -w: with a deadline, iputils keeps sending until it expires. The runner's
    # timeout is the hard stop instead.
    extra = ["-s", str(size), "-M", "do" if df else "dont"] if size is not None else []
    extra += ["-b"] if broadcast else []  # a subnet's broadcast address: every host may answer
    return ["ping", "-n", "-c", str(count), "-i", f"{interval:g}", "-W", f"{wait:g}", *extra, dest]


# --- probes that did not run ----------------------------------------------------------------

_NO_NS = re.compile(r'Cannot open network namespace "([^"]+)"')
_EXEC_FAILED = re.compile(r'exec of "([^"]+)" failed: (.+)')
_WORLD_GONE = re.compile(r"nsenter: (?:cannot open|reassociate to namespace)")


def not_run(raw: Result, tool: str) -> tuple[str, str] | None:
    """(why, fix) when `raw` shows that `tool` never got to measure anything, else None.

    `ip netns exec` says so in words (rc 255 for a missing namespace, 1 for a failed
    exec), the shell says 127 for a missing program, nsenter fails when the world is gone.
    """
    text = raw.stderr + raw.stdout
    if raw.timed_out:
        return f"{tool} did not finish in time", "check the lab's routes; a probe should never hang"
    m = _NO_NS.search(text)
    if m:
        return (
            f"namespace {m[1]} does not exist",
            NO_LAB_FIX,
        )
    m = _EXEC_FAILED.search(text)
    if m:
        if "No such file" in m[2]:
            return f"{m[1]} is not installed", f"{install_hint(m[1])}, or run `nslab doctor`"
        return f"{m[1]} cannot be executed: {m[2].strip()}", f"reinstall it: {install_hint(m[1])}"
    if raw.rc == 127:
        return f"{tool} is not installed", f"{install_hint(tool)}, or run `nslab doctor`"
    if _WORLD_GONE.search(text):
        return "the scenario's world is gone", "a step ended it; start the scenario again"
    return None


def _no_verdict(raw: Result, why: str, fix: str) -> ProbeError:
    return ProbeError(f"`{raw.command}` did not run: {why}, so there is no verdict", fix, raw)


# --- probes with evidence ---------------------------------------------------------------------


# Counters of every firewall right before and right after the probe, in one process: a
# separate `iptables-save -c` per snapshot costs ~4.5 ms (nsenter) against ~1 ms inside
# this script. Arguments, never spliced: N, N firewall places as PLACE:TOOL ("host" = the
# world's root namespace; TOOL as in nslab.firewall), then the probe's argv.
def _snapshot_arms() -> str:
    """The bash `case` arms that snapshot each firewall tool: built from nslab.firewall,
    the one registry of how each tool's counters are read (pings in bash, connections in
    the helper); IPv6 after a line "@@nslab-v6"."""

    def arm(pattern: str, argvs: tuple[tuple[str, ...], ...]) -> str:
        body = "; printf '@@nslab-v6\\n'; ".join('"${pre[@]}" ' + shlex.join(a) for a in argvs)
        return f"      {pattern}) {body} ;;"

    default = firewalls.get("")  # the reader of a tool the registry does not know
    arms = [arm(tool, fw.snapshot) for tool, fw in firewalls.REGISTRY.items() if fw is not default]
    return "\n".join([*arms, arm("*", default.snapshot)])


OBSERVE = r"""
snap() {
  for fw in "${fws[@]}"; do
    place=${fw%%:*} tool=${fw#*:} pre=()
    [ "$place" = host ] || pre=(ip netns exec "$place")
    printf '@@nslab-fw %s\n' "$fw"
    case $tool in
@@ARMS@@
    esac 2>/dev/null
  done
}
n=$1; shift; fws=("${@:1:$n}"); shift "$n"
snap
printf '@@nslab-probe\n'
"$@"
rc=$?
printf '\n@@nslab-after\n'
snap
exit "$rc"
""".replace("@@ARMS@@", _snapshot_arms())


def _snapshots(text: str) -> dict[str, parse.Ruleset]:
    out = {}
    for block in text.split("@@nslab-fw ")[1:]:
        where, _, body = block.partition("\n")
        place, _, tool = where.partition(":")
        out[place] = firewalls.parse_snapshot(tool, body)
    return out


def observe(
    runner: Runner,
    argv: list[str],
    ns: str,
    *,
    firewalls: Sequence[str],
    timeout: float,
    written: Sources | None = None,
) -> tuple[Result, Evidence]:
    """Run `argv` in lab namespace `ns` between two counter snapshots of `firewalls`."""
    inner = as_argv(argv, ns)
    raw = runner.run(
        ["bash", "-c", OBSERVE, "nslab-probe", str(len(firewalls)), *firewalls, *inner], timeout=timeout
    )
    before, _, rest = raw.stdout.partition("@@nslab-probe\n")
    probe_out, _, after = rest.partition("\n@@nslab-after\n")
    shown = Result(shlex.join(inner), raw.rc, probe_out, raw.stderr, raw.seconds, raw.timed_out)
    log = getattr(runner, "log", None)
    if log is not None and log.entries and log.entries[-1].stdout == raw.stdout:
        log.entries[-1] = shown  # the report shows the probe, not its wrapping
    later = _snapshots(after)
    found = decisions(_snapshots(before), later, written)
    return shown, Evidence(tuple(sources.listed(runner, found, firewalls)), uncounted_policies(later))


def ping(
    runner: Runner,
    ns: str,
    dest: ipaddress.IPv4Address | ipaddress.IPv6Address | str,
    *,
    count: int = 3,
    interval: float = 0.02,
    wait: float = 0.15,
    firewalls: Sequence[str] = ("host:iptables4",),
    size: int | None = None,
    df: bool = False,
    broadcast: bool = False,
    written: Sources | None = None,
) -> Ping:
    """A measured ping, or ProbeError when ping never got to send (no verdict then), but for
    ping's own refusals, which are claims of their own ("Network is unreachable")."""
    raw, evidence = observe(
        runner,
        ping_argv(
            str(dest), count=count, interval=interval, wait=wait, size=size, df=df, broadcast=broadcast
        ),
        ns,
        firewalls=firewalls,
        timeout=count * interval + wait + 10,
        written=written,  # the lab's rules as its files write them (nslab.firewall.sources)
    )
    reason = not_run(raw, "ping")
    result = parse.ping(raw.stdout + raw.stderr)
    if reason is None and not result.summary and result.error_kind not in parse.PING_REFUSALS:
        first = (raw.output.strip().splitlines() or ["no output at all"])[0]
        reason = (f"ping printed no statistics ({first})", "run the command by hand to see why")
    if reason is not None:
        raise _no_verdict(raw, *reason)
    return Ping(result, raw, count, evidence)


def read(runner: Runner, argv: list[str], ns: str | None = None) -> str:
    """The output of a command that reads state; an error naming why when it could not."""
    raw = runner.run(argv, ns=ns)
    if not raw.ok:
        first = (raw.output.strip().splitlines() or ["no output"])[0]
        raise _no_verdict(raw, *(not_run(raw, argv[0]) or (f"{argv[0]} exited {raw.rc}: {first}", "")))
    return raw.stdout


def netns_names(runner: Runner) -> list[str]:
    """The named network namespaces `ip netns show` lists (first word of each line)."""
    return [line.split()[0] for line in read(runner, ["ip", "netns", "show"]).splitlines() if line.strip()]


def route_text(runner: Runner, ns: str | None, v6: bool = False) -> str:
    """`ip route` as the seed prints it (`ip -6 route` with v6, without the link-local
    fe80::/64 routes every interface gets), trailing blanks trimmed per line."""
    lines = read(runner, ["ip", *(["-6"] if v6 else []), "route"], ns).splitlines()
    return "\n".join(line.rstrip() for line in lines if not line.startswith("fe80::/64 "))


def routes(runner: Runner, ns: str | None) -> list[parse.RouteEntry]:
    return parse.routes(read(runner, ["ip", "-j", "route"], ns))


def nft_counters(runner: Runner, ns: str | None = None) -> dict[str, int]:
    """nft's named counters in the namespace (`counter web_hits { }`): packets by name."""
    return nft_json(read(runner, ["nft", "-j", "list", "ruleset"], ns)).counters


def ruleset(runner: Runner, ns: str | None = None) -> parse.Ruleset:
    """Every table, chain, rule and counter (`iptables-save -c`)."""
    return iptables_save(read(runner, ["iptables-save", "-c"], ns))


def iptables_list(runner: Runner, ns: str | None = None) -> str:
    """`iptables -L` text, for assertions that quote the seed literally."""
    return read(runner, ["iptables", "-L"], ns)


def sysctl(runner: Runner, key: str, ns: str | None = None) -> str:
    return read(runner, ["sysctl", "-n", key], ns).strip()


@dataclass(frozen=True)
class Lookup:
    """A name look-up inside a namespace: the addresses, or not found (getent's exit 2)."""

    name: str
    addresses: tuple[str, ...]
    raw: Result

    @property
    def found(self) -> bool:
        return bool(self.addresses)


def lookup(runner: Runner, ns: str, name: str) -> Lookup:
    """Resolve a name the way programs in the namespace do (nsswitch, resolv.conf).

    Only getent's exit 2 ("not found") means the name does not resolve; anything else
    that is not a success (no namespace, no getent, a hang) is an error, not a verdict."""
    raw = runner.run(["getent", "ahosts", name], ns=ns, timeout=15)  # A and AAAA, as programs get them
    reason = not_run(raw, "getent")
    if reason is None and raw.rc not in (0, 2):
        reason = (f"getent exited {raw.rc}: {raw.output.strip() or 'no output'}", "run it by hand to see why")
    if reason is not None:
        raise _no_verdict(raw, *reason)
    addresses = tuple(dict.fromkeys(line.split()[0] for line in raw.stdout.splitlines() if line.strip()))
    return Lookup(name, addresses if raw.rc == 0 else (), raw)


SEEN = "/proc/net/xt_recent/nslab-seen"
SEEN6 = "/proc/net/xt_recent/nslab-seen6"  # IPv6 echo requests: a table of its own (a shared
# one keeps the IPv4 rule's 32-bit mask and records every IPv6 source as ::, measured)


def seen_sources(runner: Runner, upstream_ns: str, v6: bool = False) -> list[str]:
    """Source addresses of the echo requests the simulated internet received (xt_recent),
    and with v6 (a dual-stack upstream) those over IPv6 too, compressed as `ip` writes them.

    The record must exist: without the upstream stage "saw no pings" would prove nothing."""
    seen = []
    for path in (SEEN, SEEN6) if v6 else (SEEN,):
        raw = runner.run(["cat", path], ns=upstream_ns)
        if not raw.ok:
            why, fix = not_run(raw, "cat") or (
                f"the simulated internet keeps no record of pings ({path} is missing in {upstream_ns})",
                "add 'Given the simulated internet' (the upstream stage)",
            )
            if why.startswith("namespace"):
                fix = "add 'Given the simulated internet' (the upstream stage)"
            raise _no_verdict(raw, why, fix)
        seen += [
            str(ipaddress.ip_address(field.split("=", 1)[1]))
            for line in raw.stdout.splitlines()
            for field in line.split()[:1]
            if field.startswith("src=")
        ]
    return seen


def listening(runner: Runner, ns: str) -> list[parse.Socket]:
    """The namespace's listening TCP and UDP sockets, as `ss -H -tuln` shows them."""
    return parse.ss_listening(read(runner, ["ss", "-H", "-tuln"], ns))


def flows(runner: Runner, ns: str | None = None) -> list[parse.ConntrackEntry]:
    """The connections the namespace's conntrack holds (`conntrack -L`)."""
    return parse.conntrack(read(runner, ["conntrack", "-L"], ns))


def plain_peer(text: str) -> str:
    """`ss`'s peer column as an address: "10.1.0.10:443", "[2001:db8::10]:443" and
    "[::ffff:10.1.0.10]:443" (a v4 peer on a dual-stack socket) give the address alone."""
    host = text.rsplit(":", 1)[0].strip("[]")
    return host[7:] if host.startswith("::ffff:") and "." in host else host
