"""The diagnostics bundle: what a person needs to see why a scenario failed, unrerun.

Like the kernel's netfilter selftests, which dump the ruleset the moment a ping fails:
rules with counters (which rule dropped the packets), links, addresses and routes of
every namespace, the sysctls that matter, the raw output of the last probe, and every
command the scenario ran.
"""

from __future__ import annotations

import re
from pathlib import Path

from nslab import firewall as firewalls_registry
from nslab import parse
from nslab.commands import Runner
from nslab.errors import ProbeError
from nslab.lab import Lab
from nslab.probe import checks as probe

SYSCTLS = (
    "net.ipv4.ip_forward",
    "net.bridge.bridge-nf-call-iptables",
)


def _section(title: str, body: str) -> str:
    return f"===== {title} =====\n{body.rstrip()}\n"


def collect(
    runner: Runner,
    lab: Lab,
    *,
    extra: dict[str, str] | None = None,
    command_log: str = "",
    firewalls: tuple[str, ...] = ("host:iptables4",),
) -> str:
    """A plain-text bundle; every probe is allowed to fail (the lab may be half-built).
    Every firewall place (PLACE:TOOL, as evidence reads them) is listed with its own tool:
    a router's nft ruleset as `nft list ruleset`, not the host's iptables-save."""
    parts = []
    for title, body in (extra or {}).items():
        parts.append(_section(title, body))

    def grab(title: str, argv: list[str], ns: str | None = None) -> None:
        r = runner.run(argv, ns=ns, timeout=10)
        where = f"[{ns}] " if ns else "[host] "
        shown = parse.without_nslab(r.output)  # rule coverage's counting rules are nslab's, not the user's
        parts.append(_section(where + title + f"  ($ {' '.join(argv)})", shown or f"(rc={r.rc})"))

    places = dict(f.partition(":")[::2] for f in firewalls)
    for argv in firewalls_registry.get(places.pop("host", "iptables4")).listing:
        grab("rules and counters", list(argv))
    grab("links", ["ip", "-d", "link"])
    grab("addresses", ["ip", "-br", "addr"])
    grab("routes", ["ip", "route"])
    sysctl_lines = [
        f"{key} = {runner.run(['sysctl', '-n', key], timeout=5).output.strip()}" for key in SYSCTLS
    ]
    parts.append(_section("[host] sysctls", "\n".join(sysctl_lines)))
    try:
        namespaces = probe.netns_names(runner)
    except ProbeError as exc:  # a bundle is best effort: say why, keep the rest
        namespaces = []
        parts.append(_section("[namespaces] not listed", str(exc)))
    for ns in namespaces:
        if ns in places:  # its rules first: what decided is what a reader looks for
            for argv in firewalls_registry.get(places[ns]).listing:
                grab("rules and counters", list(argv), ns)
        grab("addresses", ["ip", "-br", "addr"], ns)
        grab("routes", ["ip", "route"], ns)
        if ns == lab.upstream.namespace:
            grab("rules and counters", ["iptables-save", "-c"], ns)
    if command_log:
        parts.append(_section("commands this scenario ran", command_log))
    return "\n".join(parts)


def _slug(text: str, limit: int = 60) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "-", text).strip("-").lower()[:limit] or "unnamed"


def bundle_name(feature_file: str | Path, scenario: str) -> str:
    """The bundle's file name: the feature's path below its features/ folder (folders
    joined with '.', which no slug holds) and the scenario, so that x.feature in two folders
    keeps two bundles (features/a/x.feature -> a.x--SCENARIO.txt)."""
    parts = Path(feature_file).with_suffix("").parts
    below = [i for i, part in enumerate(parts) if part == "features"]
    kept = parts[below[-1] + 1 :] if below else tuple(p for p in parts if p not in ("/", ".", ".."))
    return ".".join(_slug(p) for p in kept or ("unnamed",)) + f"--{_slug(scenario)}.txt"
