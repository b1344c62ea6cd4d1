"""A lab host's `docker = {...}` key: the containers Docker runs there and what they
publish, read and checked before anything runs (pure: no process, no file but the
optional daemon.json).

    [[host]]
    name = "web"
    docker = { containers = [{ name = "app", publish = ["8080:80"] }], daemon = "daemon.json" }

`publish` takes Docker's own forms: `8080:80`, `127.0.0.1:8080:80`, `8080:80/udp`.

>>> Publish.parse("where", "127.0.0.1:8080:80/udp")
Publish(host_port=8080, port=80, proto='udp', host_ip='127.0.0.1')
>>> Publish.parse("where", "8080:80").words()
'8080:80'
"""

from __future__ import annotations

import ipaddress
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nslab.errors import LabError
from nslab.lab.checks import at, check_keys, check_name, check_str, check_unreserved

_PUBLISH = re.compile(
    r"(?:(?P<ip>[0-9.]+|\[[0-9a-fA-F:]+\]):)?(?P<host>\d+):(?P<port>\d+)(?:/(?P<proto>tcp|udp))?"
)
# What nslab gives dockerd on its command line to keep it inside the world: a daemon.json
# naming one of these makes dockerd refuse to start ("specified both as a flag and in the
# configuration file"), so the lab file is refused first, naming the key.
OWNED_KEYS = ("hosts", "data-root", "graph", "exec-root", "pidfile", "cgroup-parent", "storage-driver")
DEFAULT_BIP = ipaddress.IPv4Interface("172.17.0.1/16")  # dockerd's docker0 without "bip"


@dataclass(frozen=True)
class Publish:
    """One `-p`: HOST_PORT on the host (all its addresses, or `host_ip`) to the container's PORT."""

    host_port: int
    port: int
    proto: str = "tcp"
    host_ip: str | None = None

    @classmethod
    def parse(cls, where: str, value: Any) -> Publish:
        text = check_str(where, value)
        m = _PUBLISH.fullmatch(text)
        if m is None:
            raise LabError(
                f"{where}: {text!r} is not a published port",
                'write it as Docker does: "8080:80", "127.0.0.1:8080:80" or "8080:80/udp"',
            )
        ip = m["ip"].strip("[]") if m["ip"] else None
        if ip is not None:
            try:
                ipaddress.ip_address(ip)
            except ValueError:
                raise LabError(
                    f"{where}: {ip!r} in {text!r} is not an address", "e.g. 127.0.0.1:8080:80"
                ) from None
        host, port = int(m["host"]), int(m["port"])
        for number in (host, port):
            if not 1 <= number <= 65535:
                raise LabError(f"{where}: port {number} in {text!r} is out of range", "use ports 1 to 65535")
        return cls(host, port, m["proto"] or "tcp", ip)

    def words(self) -> str:
        ip = "" if not self.host_ip else f"[{self.host_ip}]:" if ":" in self.host_ip else f"{self.host_ip}:"
        return f"{ip}{self.host_port}:{self.port}" + ("/udp" if self.proto == "udp" else "")

    def argv(self) -> list[str]:
        return ["-p", self.words()]


@dataclass(frozen=True)
class Container:
    name: str
    publish: tuple[Publish, ...] = ()
    address: ipaddress.IPv4Address | None = None  # on the host's docker0, in start order

    def ports(self, proto: str) -> list[int]:
        """The container's own ports it publishes (its server listens on them)."""
        return sorted({p.port for p in self.publish if p.proto == proto})


@dataclass(frozen=True)
class DockerSpec:
    """Docker on one lab host: its containers (started in this order) and an optional
    daemon.json of the user's (copied into the host's private Docker directory)."""

    containers: tuple[Container, ...] = ()
    daemon: Path | None = None
    bip: ipaddress.IPv4Interface = DEFAULT_BIP


def read_docker(where: str, table: Any, base: Path) -> DockerSpec:
    """`docker = { containers = [...], daemon = "daemon.json" }` of a [[host]]."""
    raw = check_keys(where, table, {"containers", "daemon"})
    daemon, bip = None, DEFAULT_BIP
    if "daemon" in raw:
        daemon = (base / check_str(f"{where}.daemon", raw["daemon"])).resolve()
        bip = _daemon_bip(f"{where}.daemon", daemon)
    entries = raw.get("containers", [])
    if not isinstance(entries, list):
        raise LabError(f"{where}.containers: expected a list", '[{ name = "app", publish = ["8080:80"] }]')
    addresses = (a for a in bip.network.hosts() if a != bip.ip)  # Docker's IPAM: in order, skip the gateway
    out = []
    for i, entry in enumerate(entries):
        cw = f"{where}.{at('containers', i)}"
        entry = check_keys(cw, entry, {"name", "publish"})
        if "name" not in entry:
            raise LabError(f"{cw}.name: missing", 'every container needs a name, e.g. name = "app"')
        name = check_unreserved(f"{cw}.name", check_name(f"{cw}.name", entry["name"]), "container")
        cw = f"{where}.{at('containers', i, name)}"
        publish = entry.get("publish", [])
        if not isinstance(publish, list):
            raise LabError(f"{cw}.publish: expected a list", 'publish = ["8080:80"]')
        ports = tuple(Publish.parse(f"{cw}.{at('publish', j)}", p) for j, p in enumerate(publish))
        out.append(Container(name, ports, next(addresses)))
    return DockerSpec(tuple(out), daemon, bip)


def _daemon_bip(where: str, path: Path) -> ipaddress.IPv4Interface:
    """The daemon.json's docker0 address ("bip"): the containers' addresses follow from it."""
    if not path.is_file():
        raise LabError(
            f"{where}: {path} does not exist", "put the daemon.json next to the lab file, or fix the path"
        )
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise LabError(
            f"{where}: {path.name} is not JSON: {exc}", "fix the file (dockerd reads JSON)"
        ) from None
    if not isinstance(config, dict):
        raise LabError(f"{where}: {path.name} is not a JSON object", 'write it as { "key": value, ... }')
    owned = [k for k in OWNED_KEYS if k in config]
    if owned:
        raise LabError(
            f"{where}: {path.name} sets {owned[0]!r}, which nslab sets to keep dockerd inside the lab",
            "remove it: each Docker host has its own data root, sockets and cgroups",
        )
    try:
        return ipaddress.IPv4Interface(config.get("bip", str(DEFAULT_BIP)))
    except ValueError:
        raise LabError(
            f"{where}: bip {config['bip']!r} is not an address/prefix", 'e.g. "bip": "172.26.0.1/16"'
        ) from None


def check_names(hosts: list[tuple[str, DockerSpec | None]], others: list[str]) -> None:
    """Container names are unique across the lab: no two containers, and none named as a
    host or the upstream (a container is a place of its own, named by its name)."""
    seen = {name: f"host {name}" for name, _ in hosts} | {name: "upstream.namespace" for name in others}
    for host, spec in hosts:
        for c in spec.containers if spec else ():
            where = f"host {host}.docker.containers {c.name}.name"
            if c.name in seen:
                raise LabError(
                    f"{where}: '{c.name}' is already the name of {seen[c.name]}",
                    "give every container a name of its own across the lab: steps name it as a place",
                )
            seen[c.name] = f"a container on host {host}"
