"""Topology diagrams: the lab as a picture, from its file or from what is really there.

A topology is data (as in Mininet): `expected(lab)` reads it from the lab file,
`live(runner, lab)` from `ip -j` inside a running lab, and `differences` says what one
has and the other lacks. Rendering uses Graphviz (`dot`) for SVG and PNG, and writes
Mermaid text (`.mmd`) with no renderer needed.

>>> topo = expected(default_lab())
>>> sorted(i.name for i in topo.ifaces if i.ns == "red")
['veth1-red']
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from nslab import parse
from nslab.commands import Runner
from nslab.errors import NslabError
from nslab.lab import Lab, default_lab  # noqa: F401  (default_lab: for the doctest)
from nslab.probe import checks as probe

HOST = "host"
FORMATS = ("svg", "png", "mmd", "dot")


@dataclass(frozen=True)
class Iface:
    ns: str  # "host" for the lab's host (a world's root namespace)
    name: str
    addresses: tuple[str, ...] = ()
    master: str | None = None
    peer: str | None = None  # (ns/name) of the other veth leg, when known
    note: str = ""

    @property
    def key(self) -> str:
        return f"{self.ns}/{self.name}"


@dataclass
class Topology:
    ifaces: list[Iface] = field(default_factory=list)
    # each place's firewall, in lines (the host's FORWARD / NAVY / NAT; a router's ruleset
    # files): drawn in that place's own box
    firewall: dict[str, list[str]] = field(default_factory=dict)

    def by_key(self) -> dict[str, Iface]:
        return {i.key: i for i in self.ifaces}


def expected(lab: Lab) -> Topology:
    """What the lab file says should exist once every stage has run: a bridge per network
    on the host, a veth leg per interface, routers, the upstream hanging off its host, and
    each place's firewall in that place's box (the host's only where it has one)."""
    topo = Topology()
    for net in lab.networks:
        addrs = tuple(str(a) for a in (net.host, net.host6, net.gateway) if a is not None)
        subnets = ", ".join(str(s) for s in (net.subnet, net.subnet6) if s is not None)
        gateway = ", gateway" if net.gateway is not None else ""
        topo.ifaces.append(Iface(HOST, net.bridge, addrs, note=f"network {net.name}: {subnets}{gateway}"))
    for host, iface, net in lab.attachments():
        addrs = tuple(str(a) for a in (iface.address, iface.address6, *iface.extra) if a is not None)
        topo.ifaces.append(Iface(HOST, iface.peer, (), master=net.bridge, peer=f"{host.name}/{iface.name}"))
        note = "router" if host.router else ""
        topo.ifaces.append(Iface(host.name, iface.name, addrs, peer=f"{HOST}/{iface.peer}", note=note))
    up = lab.upstream
    via = up.via or HOST
    drawn = len(topo.ifaces)  # what a lab without [upstream] ends with

    def present(*values: object) -> tuple[str, ...]:
        return tuple(str(v) for v in values if v is not None)

    topo.ifaces.append(
        Iface(
            via,
            up.uplink,
            present(up.host_address, up.host_address6),
            peer=f"{up.namespace}/{up.peer}",
            note="uplink",
        )
    )
    topo.ifaces.append(
        Iface(up.namespace, up.peer, present(up.isp_address, up.isp_address6), peer=f"{via}/{up.uplink}")
    )
    loopback = (f"{up.server}/32", f"{up.dns}/32", *(f"{a}/128" for a in present(up.server6, up.dns6)))
    topo.ifaces.append(Iface(up.namespace, "lo", loopback, note=f"server, DNS for *.{up.domain}"))
    if not lab.internet:  # no simulated internet to draw
        del topo.ifaces[drawn:]
    gw, fw = lab.gateway_network, lab.firewall
    if fw is not None and gw is not None:
        topo.firewall[HOST] = [
            f"FORWARD (policy {fw.policy}) -j {fw.chain}",
            f"{fw.chain}: ACCEPT {gw.subnet} -> {gw.subnet}; -o {gw.bridge} ACCEPT; RETURN",
            f"nat POSTROUTING: MASQUERADE {gw.subnet} out of {up.uplink}",
        ]
    for h in lab.hosts:
        if h.rulesets:
            topo.firewall[h.name] = [f"{r.kind} {r.path.name}" for r in h.rulesets]
    return topo


def _links(runner: Runner, ns: str | None) -> list[dict]:
    return json.loads(runner.run(["ip", "-j", "-d", "addr"], ns=ns, check=True).stdout or "[]")


def live(runner: Runner, lab: Lab) -> Topology:
    """What is really there: links, addresses and masters from `ip -j` in every namespace."""
    topo = Topology()
    for ns in [None, *probe.netns_names(runner)]:
        for link in _links(runner, ns):
            name = link["ifname"]
            if name == "lo" and ns != lab.upstream.namespace:
                continue
            addrs = tuple(
                f"{a['local']}/{a['prefixlen']}"
                for a in link.get("addr_info", [])
                if a.get("family") == "inet" or (a.get("family") == "inet6" and a.get("scope") == "global")
            )
            topo.ifaces.append(Iface(ns or HOST, name, addrs, master=link.get("master")))
    rules = parse.without_nslab(runner.run(["iptables-save"], check=False).stdout)
    chains = ("FORWARD", lab.firewall.chain) if lab.firewall is not None else ("FORWARD",)
    heads = tuple(f"-A {c}" for c in chains)
    host = [line for line in rules.splitlines() if line.startswith(heads) or "MASQUERADE" in line]
    policy = next((line for line in rules.splitlines() if line.startswith(":FORWARD DROP")), None)
    if host or policy:  # a host that filters or translates: what it does, FORWARD first
        topo.firewall[HOST] = [*([policy] if policy else []), *host]
    for name, lines in expected(lab).firewall.items():  # the hosts' own ruleset files
        if name != HOST:
            topo.firewall[name] = lines
    return topo


@dataclass
class Differences:
    missing: list[str] = field(default_factory=list)  # in the lab file, not in the live lab
    extra: list[str] = field(default_factory=list)  # in the live lab, not in the lab file
    wrong: list[str] = field(default_factory=list)  # present, but addresses or master differ

    def __bool__(self) -> bool:
        return bool(self.missing or self.extra or self.wrong)

    def lines(self) -> list[str]:
        return (
            [f"missing: {k}" for k in self.missing]
            + [f"not in the lab file: {k}" for k in self.extra]
            + [f"differs: {k}" for k in self.wrong]
        )


def differences(want: Topology, have: Topology) -> Differences:
    w, h = want.by_key(), have.by_key()
    diff = Differences(missing=sorted(set(w) - set(h)), extra=sorted(set(h) - set(w)))
    for key in sorted(set(w) & set(h)):
        lacking = set(w[key].addresses) - set(h[key].addresses)
        if lacking or (w[key].master and w[key].master != h[key].master):
            what = ", ".join(sorted(lacking)) or f"master {h[key].master} (want {w[key].master})"
            diff.wrong.append(f"{key} lacks {what}")
    return diff


def _node_id(key: str) -> str:
    return "n_" + "".join(c if c.isalnum() else "_" for c in key)


def _host_title(lines: list[str]) -> str:
    """'host', with what it does where it does it: (FORWARD), (NAT) or (FORWARD, NAT)."""
    roles = [
        role
        for role, found in (
            ("FORWARD", any("MASQUERADE" not in x for x in lines)),
            ("NAT", any("MASQUERADE" in x for x in lines)),
        )
        if found
    ]
    return f"host ({', '.join(roles)})" if roles else "host"


def to_dot(
    lab: Lab, topo: Topology, diff: Differences | None = None, marks: dict[str, str] | None = None
) -> str:
    """Graphviz source: one cluster per namespace, veth pairs as edges, the firewall as a note;
    `marks` outlines namespaces in red with their role (a failing flow's source, destination)."""
    import graphviz

    diff = diff or Differences()
    shown = {i.key: i for i in topo.ifaces}
    want = expected(lab).by_key()
    for key in diff.missing:  # draw what should be there, marked
        shown.setdefault(key, want[key])
    g = graphviz.Graph(
        "lab",
        graph_attr={"rankdir": "LR", "fontname": "Helvetica", "label": f"lab '{lab.name}'"},
        node_attr={"shape": "box", "style": "rounded", "fontname": "Helvetica", "fontsize": "11"},
        edge_attr={"fontname": "Helvetica", "fontsize": "10"},
    )
    groups: dict[str, list[Iface]] = {}
    for iface in shown.values():
        groups.setdefault(iface.ns, []).append(iface)
    for ns, ifaces in groups.items():
        title = (
            _host_title(topo.firewall.get(HOST, []))
            if ns == HOST
            else (f"{ns} (simulated internet)" if ns == lab.upstream.namespace else f"namespace {ns}")
        )
        with g.subgraph(name=f"cluster_{_node_id(ns)}") as c:
            if marks and ns in marks:
                c.attr(
                    label=f"{title} ({marks[ns]})",
                    style="rounded",
                    color="red3",
                    penwidth="3",
                    fontcolor="red3",
                )
            else:
                c.attr(label=title, style="rounded", color="gray40")
            for iface in sorted(ifaces, key=lambda i: i.name):
                label = "\n".join([iface.name, *iface.addresses] + ([iface.note] if iface.note else []))
                attrs = {}
                if iface.key in diff.missing:
                    label += "\n(MISSING)"
                    attrs = {"color": "red", "fontcolor": "red", "style": "rounded,dashed"}
                elif iface.key in diff.extra:
                    label += "\n(not in lab file)"
                    attrs = {"color": "orange"}
                elif any(w.startswith(iface.key + " ") for w in diff.wrong):
                    attrs = {"color": "red"}
                c.node(_node_id(iface.key), label, **attrs)
            if topo.firewall.get(ns):  # the place's own firewall, in its own box
                c.node(f"firewall_{_node_id(ns)}", "\n".join(topo.firewall[ns]), shape="note", fontsize="9")
    for iface in shown.values():
        if iface.master:
            g.edge(_node_id(iface.key), _node_id(f"{HOST}/{iface.master}"), style="dotted", label="port")
    for key, iface in want.items():
        if iface.peer and key < iface.peer and key in shown and iface.peer in shown:
            broken = key in diff.missing or iface.peer in diff.missing
            g.edge(
                _node_id(key),
                _node_id(iface.peer),
                label="veth",
                penwidth="2",
                **({"color": "red", "style": "dashed"} if broken else {}),
            )
    return g.source


def to_mermaid(lab: Lab, topo: Topology, diff: Differences | None = None) -> str:
    diff = diff or Differences()
    want = expected(lab).by_key()
    shown = {i.key: i for i in topo.ifaces}
    for key in diff.missing:
        shown.setdefault(key, want[key])
    lines = ["flowchart LR"]
    by_ns: dict[str, list[Iface]] = {}
    for iface in shown.values():
        by_ns.setdefault(iface.ns, []).append(iface)
    for ns, ifaces in by_ns.items():
        lines.append(f'  subgraph {_node_id(ns)}["{ns}"]')
        for i in ifaces:
            mark = (
                " MISSING" if i.key in diff.missing else " (not in lab file)" if i.key in diff.extra else ""
            )
            lines.append(f'    {_node_id(i.key)}["{i.name}<br/>{"<br/>".join(i.addresses)}{mark}"]')
        lines.append("  end")
    for key, iface in want.items():
        if iface.peer and key < iface.peer and key in shown and iface.peer in shown:
            lines.append(f"  {_node_id(key)} ---|veth| {_node_id(iface.peer)}")
    for iface in shown.values():
        if iface.master:
            lines.append(f"  {_node_id(iface.key)} -.-|port| {_node_id(HOST + '/' + iface.master)}")
    return "\n".join(lines) + "\n"


def render(
    lab: Lab,
    topo: Topology,
    fmt: str,
    diff: Differences | None = None,
    marks: dict[str, str] | None = None,
) -> bytes:
    """The diagram as bytes in `fmt` (svg, png, mmd, dot)."""
    if fmt == "mmd":
        return to_mermaid(lab, topo, diff).encode()
    source = to_dot(lab, topo, diff, marks)
    if fmt == "dot":
        return source.encode()
    if shutil.which("dot") is None:
        raise NslabError("Graphviz's `dot` is not installed", "apt-get install graphviz, or use -o lab.mmd")
    import graphviz

    return graphviz.Source(source).pipe(format=fmt)


def write(lab: Lab, topo: Topology, path: Path, diff: Differences | None = None) -> None:
    fmt = path.suffix.lstrip(".")
    if fmt not in FORMATS:
        raise NslabError(f"cannot write a diagram as '{path.suffix}'", "use .svg, .png, .mmd or .dot")
    path.write_bytes(render(lab, topo, fmt, diff))
