"""The lab as a person thinks of it: networks, the hosts and routers on them with their
addresses, the lab's host where it takes part, and the simulated internet.

`nslab diagram` draws this by default; the plumbing that makes it (veth pairs, bridges,
namespaces: nslab.report.diagram) is `--detail`. A reader asking "who can reach whom, at which
address" wants the first; one debugging a missing link, the second.

>>> from nslab.lab import default_lab
>>> "network lan" in to_dot(default_lab()) and "veth1-red" not in to_dot(default_lab())
True
"""

from __future__ import annotations

import shutil
from collections.abc import Iterable
from pathlib import Path

from nslab.errors import NslabError
from nslab.lab import Lab

HOST_NODE = "the_host"
INTERNET_NODE = "the_internet"


def _id(kind: str, name: str) -> str:
    return f"{kind}_" + "".join(c if c.isalnum() else "_" for c in name)


def _ips(values: Iterable[object]) -> list[str]:
    """Addresses as a reader quotes them: 10.16.0.2, not 10.16.0.2/24 (the network says /24)."""
    return [str(getattr(v, "ip", v)) for v in values if v is not None]


def elements(lab: Lab) -> tuple[dict[str, tuple[str, str]], list[tuple[str, str, str]]]:
    """The picture as data: nodes {id: (kind, label)} and edges (a, b, label). Kinds:
    network, host, router, the host, internet."""
    nodes: dict[str, tuple[str, str]] = {}
    edges: list[tuple[str, str, str]] = []
    for net in lab.networks:
        subnets = [str(s) for s in (net.subnet, net.subnet6) if s is not None]
        nodes[_id("net", net.name)] = ("network", "\n".join([f"network {net.name}", *subnets]))
    for host in lab.hosts:
        words = [host.name] + (["router"] if host.router else [])
        words += [f"{r.kind}: {r.path.name}" for r in host.rulesets]
        nodes[_id("host", host.name)] = ("router" if host.router else "host", "\n".join(words))
    for host, iface, net in lab.attachments():
        addrs = _ips((iface.address, iface.address6, *iface.extra))
        edges.append((_id("host", host.name), _id("net", net.name), "\n".join(addrs)))
    # the lab's host: drawn where it is on a network (an address, a gateway), holds the
    # lab's chain or NAT, or is where the internet hangs off
    up, fw = lab.upstream, lab.firewall
    on = [n for n in lab.networks if any(a is not None for a in (n.host, n.host6, n.gateway))]
    via_host = lab.internet and up.via is None
    if on or fw is not None or via_host:
        roles = [f"gateway of {n.name}" for n in on if n.gateway is not None]
        if fw is not None:
            roles.append(f"chain {fw.chain}, FORWARD policy {fw.policy}")
            if lab.internet and lab.gateway_network is not None:
                roles.append("NAT to the internet")
        roles += [f"{r.kind}: {r.path.name}" for r in lab.host_rulesets]
        nodes[HOST_NODE] = ("the host", "\n".join(["the lab's host", *roles]))
        for n in on:
            edges.append((HOST_NODE, _id("net", n.name), "\n".join(_ips((n.host, n.host6, n.gateway)))))
    if lab.internet:
        served = _ips((up.server, up.server6))
        dns = _ips((up.dns, up.dns6))
        label = ["the internet (simulated)", f"server {', '.join(served)}", f"DNS {', '.join(dns)}"]
        nodes[INTERNET_NODE] = ("internet", "\n".join([*label, f"*.{up.domain}"]))
        here = HOST_NODE if up.via is None else _id("host", up.via)
        ends = [  # this side's address, the isp's across the uplink
            f"{mine.ip} - isp {theirs.ip}"
            for mine, theirs in ((up.host_address, up.isp_address), (up.host_address6, up.isp_address6))
            if mine is not None and theirs is not None
        ]
        edges.append((here, INTERNET_NODE, "\n".join(ends)))
    return nodes, edges


_SHAPES = {
    "network": {"shape": "ellipse", "style": "filled", "fillcolor": "#dbe9f6"},
    "host": {"shape": "box", "style": "rounded"},
    "router": {"shape": "box", "style": "rounded,bold", "color": "#1b5e20"},
    "the host": {"shape": "box", "style": "rounded,filled", "fillcolor": "#eeeeee"},
    "internet": {"shape": "box", "style": "rounded,dashed", "color": "gray30"},
}


def to_dot(lab: Lab) -> str:
    """Graphviz source of the logical picture: networks as ellipses, hosts as boxes, each
    host joined to its networks by an edge labelled with its addresses there."""
    import graphviz

    nodes, edges = elements(lab)
    g = graphviz.Graph(
        "lab",
        graph_attr={"rankdir": "LR", "fontname": "Helvetica", "label": f"lab '{lab.name}'"},
        node_attr={"fontname": "Helvetica", "fontsize": "11"},
        edge_attr={"fontname": "Helvetica", "fontsize": "10"},
    )
    for node, (kind, label) in nodes.items():
        g.node(node, label, **_SHAPES[kind])
    for a, b, label in edges:
        g.edge(a, b, label=label)
    return g.source


def to_mermaid(lab: Lab) -> str:
    nodes, edges = elements(lab)
    shape = {"network": ('(["', '"])'), "internet": ('{{"', '"}}')}
    lines = ["flowchart LR"]
    for node, (kind, label) in nodes.items():
        left, right = shape.get(kind, ('["', '"]'))
        lines.append(f"  {node}{left}{label.replace(chr(10), '<br/>')}{right}")
    for a, b, label in edges:
        lines.append(f'  {a} ---|"{label.replace(chr(10), "<br/>")}"| {b}')
    return "\n".join(lines) + "\n"


def render(lab: Lab, fmt: str) -> bytes:
    """The logical picture as bytes in `fmt` (svg, png, mmd, dot)."""
    if fmt == "mmd":
        return to_mermaid(lab).encode()
    source = to_dot(lab)
    if fmt == "dot":
        return source.encode()
    if shutil.which("dot") is None:
        raise NslabError("Graphviz's `dot` is not installed", "apt-get install graphviz, or use -o lab.mmd")
    import graphviz

    return graphviz.Source(source).pipe(format=fmt)


def write(lab: Lab, path: Path) -> None:
    fmt = path.suffix.lstrip(".")
    if fmt not in ("svg", "png", "mmd", "dot"):
        raise NslabError(f"cannot write a diagram as '{path.suffix}'", "use .svg, .png, .mmd or .dot")
    path.write_bytes(render(lab, fmt))
