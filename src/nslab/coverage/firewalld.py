"""Rule coverage of a firewalld host: the traced probes' deciding rules mapped back to the
elements of the lab's zone files.

firewalld's rules keep no counters and are rewritten on every reload, so a scenario's probe
in a lab with a firewalld host is traced by nftables (nslab.probe.traced): the kernel names
the rule that decided it. firewalld writes a zone's `<service>`, `<port>` and rich rule
(`<rule>`) elements as rules of its chains `filter_IN_ZONE_allow` (accept) and `filter_IN_ZONE_deny`
(reject, drop): `<port port="8443" protocol="tcp"/>` is `tcp dport 8443 accept`; a
service is each of its ports (its file from the lab's folder, else the package's
/usr/lib/firewalld/services, read only), `ip6 daddr fe80::/64 udp dport 546 accept` where
it names a destination; a rich rule its family, source, destination, port or service and
action. An element is identified where every rule nslab expects of it is in the chain once
the lab is built; otherwise nslab says it cannot tell which rule firewalld made of it
(hits unknown). A hit is a probe the element's rule decided (the trace sees a flow's
first packet). Every other rule a probe met (firewalld's stock chains) is firewalld's
own, reported per chain, never in the user's percentage."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from nslab.coverage.files import FileCoverage, RuleHits, relative_name
from nslab.coverage.managed import Quiet
from nslab.firewall.evidence import Decision
from nslab.firewall.sources import nft_texts
from nslab.lab import Host, Lab
from nslab.machine.world import World
from nslab.managers.common import host_argv
from nslab.managers.elements import Node, XmlError, parse_xml

TABLE = "inet firewalld"
SERVICES = Path("/usr/lib/firewalld/services")  # the package's: read, never written
# the elements a zone file's rules come from (a rich rule is a `<rule>` element in the file)
MAPPED = ("service", "port", "source-port", "protocol", "rule")
# elements whose rules nslab does not map (icmp types' rules per family, NAT chains): said
UNMAPPED = ("icmp-block", "forward-port", "masquerade")
_FAMILY = {"ipv4": "ip", "ipv6": "ip6"}
_VERDICT = re.compile(r"\b(accept|drop|reject)\b")


def service_rules(name: str, folders: list[Path], seen: frozenset[str] = frozenset()) -> list[str] | None:
    """The match part of each rule a service is written as (`tcp dport 22`), from its
    file in the first folder that has it (with the services it includes); None where
    no folder has it, or it has something nslab does not map (a helper, no ports)."""
    path = next((f / f"{name}.xml" for f in folders if (f / f"{name}.xml").is_file()), None)
    if path is None or name in seen:
        return None
    try:
        root = parse_xml(path.read_text(errors="replace"))
    except ValueError:
        return None
    matches: list[str] = []
    for c in root.children:
        if c.tag in ("port", "source-port") and c.attrs.get("port"):
            way = "dport" if c.tag == "port" else "sport"
            matches.append(f"{c.attrs.get('protocol', '')} {way} {c.attrs['port']}")
        elif c.tag == "protocol" and c.attrs.get("value"):
            matches.append(f"meta l4proto {c.attrs['value']}")
        elif c.tag == "include" and c.attrs.get("service"):
            more = service_rules(c.attrs["service"], folders, seen | {name})
            if more is None:
                return None
            matches += more
        elif c.tag in ("module", "helper"):
            return None  # a conntrack helper: rules of other chains too
    destination = root.find("destination")
    if destination is not None:
        fams = [f"{_FAMILY[k]} daddr {v}" for k, v in destination.attrs.items() if k in _FAMILY]
        matches = [f"{d} {m}" for d in fams for m in matches]
    return matches or None


def expected(element: Node, folders: list[Path]) -> tuple[str, list[str]] | None:
    """(chain suffix, the rules firewalld writes of a zone file's element), or None
    where nslab cannot tell."""
    if element.tag in ("port", "source-port") and element.attrs.get("port"):
        way = "dport" if element.tag == "port" else "sport"
        return "allow", [f"{element.attrs.get('protocol', '')} {way} {element.attrs['port']} accept"]
    if element.tag == "protocol" and element.attrs.get("value"):
        return "allow", [f"meta l4proto {element.attrs['value']} accept"]
    if element.tag == "service" and element.attrs.get("name"):
        found = service_rules(element.attrs["name"], folders)
        return ("allow", [f"{m} accept" for m in found]) if found is not None else None
    if element.tag == "rule":
        return _rich(element, folders)
    return None


def _rich(rule: Node, folders: list[Path]) -> tuple[str, list[str]] | None:
    """A rich rule of a family, a source, a destination, one port or service, and accept,
    reject or drop (no log, audit, limit, mark, priority): what nslab knows firewalld to
    write; else None."""
    known = {"source", "destination", "port", "service", "accept", "reject", "drop"}
    if any(c.tag not in known for c in rule.children) or rule.attrs.get("priority", "0") != "0":
        return None
    family = _FAMILY.get(rule.attrs.get("family", ""), "")
    words: list[str] = []
    for tag, way in (("source", "saddr"), ("destination", "daddr")):
        c = rule.find(tag)
        if c is not None:
            if not family or "address" not in c.attrs or c.attrs.get("invert") in ("yes", "true"):
                return None
            words.append(f"{family} {way} {c.attrs['address']}")
    port, service = rule.find("port"), rule.find("service")
    if port is not None and service is None and port.attrs.get("port"):
        matches = [f"{port.attrs.get('protocol', '')} dport {port.attrs['port']}"]
    elif service is not None and port is None and service.attrs.get("name"):
        found = service_rules(service.attrs["name"], folders)
        if found is None:
            return None
        matches = found
    else:
        return None
    action = next((c for c in rule.children if c.tag in ("accept", "reject", "drop")), None)
    if action is None or action.children or (action.tag == "reject" and action.attrs):
        return None
    chain = "allow" if action.tag == "accept" else "deny"
    return chain, [" ".join([*words, m, action.tag]) for m in matches]


def element_words(e: Node) -> str:
    """`service ssh`, `port 8443/tcp`, `rich rule` (with its family), `icmp-block echo-request`."""
    if e.tag == "service":
        return f"service {e.attrs.get('name', '')}"
    if e.tag in ("port", "source-port", "forward-port"):
        return f"{e.tag} {e.attrs.get('port', '')}/{e.attrs.get('protocol', '')}"
    if e.tag in ("protocol", "icmp-block"):
        return f"{e.tag} {e.attrs.get('value', e.attrs.get('name', ''))}"
    if e.tag != "rule":
        return e.tag
    family = e.attrs.get("family")
    return f"rich rule{f' family={family}' if family else ''}"


def listing(text: str) -> dict[str, list[str]]:
    """`nft -a list table inet firewalld` as {chain: its rules' text}, in order (each rule
    as nft lists it, read as the evidence reads a native nft rule: nslab.firewall.sources)."""
    out: dict[str, list[str]] = {}
    for (_, chain, _), rule in nft_texts(text).items():
        out.setdefault(chain, []).append(rule)
    return out


@dataclass
class FirewalldPlace(Quiet):  # no counters: nothing to fold
    """One firewalld host in the current world: its zone files' elements, its hits."""

    host: str
    files: list[FileCoverage]  # each zone file of the lab's folder, then firewalld's own
    wants: list[list[set[tuple[str, str]]]]  # per element: the (chain, rule) it is written as
    chains: dict[str, list[str]]  # the table's rules once the lab was built

    def traced(self, decisions: list[Decision]) -> None:
        """A scenario probe's decisions: each of this host's firewalld rules, a hit."""
        mine = [d for d in decisions if d.where == self.host and d.table == TABLE and d.rule is not None]
        user = {k for wants in self.wants[:-1] for w in wants for k in w}
        own = self.files[-1]
        for d in mine:
            text = (d.text or d.spec).strip()
            for cov, wants in zip(self.files[:-1], self.wants[:-1], strict=True):
                for rule, want in zip(cov.rules, wants, strict=True):
                    if (d.chain, text) in want and rule.hits is not None:
                        rule.hits += 1
            if (d.chain, text) not in user:
                for rule in own.rules:
                    if rule.rule == own_words(d.chain, d.rule or 0, text):
                        rule.hits = (rule.hits or 0) + 1

    def end(self, scenario: str) -> list[FileCoverage]:
        for cov in self.files:
            if any(r.hits for r in cov.rules):
                cov.scenarios.add(scenario)
        return self.files


def own_words(chain: str, n: int, text: str) -> str:
    return f"{chain} rule {n}: {text}"


def place_of(
    world: World, lab: Lab, host: Host, lab_path: Path | None, lab_name: str, folder: Path, parsed: object
) -> FirewalldPlace:
    """A firewalld host's zone files (the lab's folder) and its table, read now (built) in
    the host's namespaces: the reader's entry (nslab.coverage.managed)."""
    assert host.manager is not None
    chains = listing(world.run(host_argv(lab, host, ["nft", "-a", "list", "table", *TABLE.split()])).stdout)
    fw = FirewalldPlace(host.name, [], [], chains)
    user_folder = host.manager.folder
    zones = sorted((user_folder / "zones").glob("*.xml")) if user_folder is not None else []
    services = [p for p in ((user_folder / "services") if user_folder else None, SERVICES) if p is not None]
    claimed: set[tuple[str, str]] = set()
    for path in zones:
        rules, wants, notes = [], [], []
        try:
            root = parse_xml(path.read_text(errors="replace"))
        except XmlError as exc:
            root, notes = Node("zone", {}, 0), [f"not read: {exc.expat}"]
        for e in (c for c in root.children if c.tag in (*MAPPED, *UNMAPPED)):
            rule = RuleHits(e.line, element_words(e), 0)
            found = expected(e, services) if e.tag in MAPPED else None
            want = {(f"filter_IN_{path.stem}_{found[0]}", r) for r in found[1]} if found else set()
            if not want or any(r not in chains.get(c, []) for c, r in want):
                rule.hits = None
                why = (
                    f"nslab does not map a <{e.tag}> to its rules"
                    if e.tag in UNMAPPED
                    else "nslab cannot tell which rule firewalld made of it"
                )
                notes.append(f"line {e.line} not counted: {why}")
            claimed |= want
            rules.append(rule)
            wants.append(want)
        fw.files.append(
            FileCoverage(
                relative_name(path, folder), host.name, lab_name, rules, kind="firewalld",
                path=str(path.resolve()), note="; ".join(notes), manager="firewalld",
            )
        )  # fmt: skip
        fw.wants.append(wants)
    for path in sorted((user_folder / "policies").glob("*.xml")) if user_folder is not None else []:
        why = "nslab does not map a policy's elements to the rules firewalld writes of them"
        fw.files.append(
            FileCoverage(
                relative_name(path, folder), host.name, lab_name, [], kind="firewalld",
                path=str(path.resolve()), note=why, known=False, manager="firewalld",
            )
        )  # fmt: skip
        fw.wants.append([])
    own = [
        RuleHits(None, own_words(c, n, r), 0)
        for c, rs in chains.items()
        for n, r in enumerate(rs, 1)
        if (c, r) not in claimed and _VERDICT.search(r)  # a jump decides nothing: never traced
    ]
    fw.files.append(
        FileCoverage("firewalld", host.name, lab_name, own, kind="firewalld", manager="firewalld", own=True)
    )
    fw.wants.append([set() for _ in own])
    return fw
