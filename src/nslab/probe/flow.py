"""The one shape of a flow: from a place to a place (`src`, `dst`, as the user names them),
a service (protocol, port, family) and, where it is not the place's first address, the
destination address (`at`). A step's probe (nslab.probe.ports.Connection), a matrix row
(nslab.probe.matrix.Row) and a derived flow (nslab.reach.flows) are each a Flow and what
they add to it; the JSON of explore and diff names the ends `from` and `to`, as before.

>>> Service.parse("tcp/443")
Service(proto='tcp', port=443, v6=False)
>>> Service.parse("udp/53 v6").words()
'udp/53 v6'
>>> Flow.parse("pc -> edge@10.2.0.1 tcp/443 v4").words()
'pc -> edge@10.2.0.1 tcp/443 v4'
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass

from nslab.errors import LabError

PROTOCOLS = ("tcp", "udp")
_SERVICE = re.compile(r"(?P<proto>icmp|tcp|udp)(?:/(?P<port>\d+))?(?P<v6>\s+v6)?\Z")


def check_port(value: str | int) -> int:
    """A port a step or matrix row names: 1 to 65535, or one clear line."""
    try:
        port = int(value)
    except (TypeError, ValueError):
        raise LabError(f"port {value!r} is not a number", "use a port from 1 to 65535") from None
    if not 1 <= port <= 65535:
        raise LabError(f"port {port} is out of range", "use a port from 1 to 65535")
    return port


def check_protocol(value: str) -> str:
    if value not in PROTOCOLS:
        raise LabError(f"unknown protocol {value!r}", "use tcp or udp")
    return value


@dataclass(frozen=True)
class Service:
    """What a matrix row probes: `icmp`, `tcp/80`, `udp/53`, with ` v6` for IPv6."""

    proto: str
    port: int = 0
    v6: bool = False

    @classmethod
    def parse(cls, text: str) -> Service:
        m = _SERVICE.match(text.strip())
        if m is None:
            raise LabError(
                f"unknown service {text!r}", "write icmp, tcp/PORT or udp/PORT, optionally with ' v6'"
            )
        proto = m["proto"]
        if proto == "icmp":
            if m["port"]:
                raise LabError(f"service {text!r}: icmp has no port", "write icmp")
            return cls("icmp", 0, bool(m["v6"]))
        if m["port"] is None:
            raise LabError(f"service {text!r} has no port", f"write {proto}/PORT, e.g. {proto}/80")
        return cls(proto, check_port(m["port"]), bool(m["v6"]))

    def words(self) -> str:
        return (self.proto if self.proto == "icmp" else f"{self.proto}/{self.port}") + (
            " v6" if self.v6 else ""
        )


@dataclass(frozen=True, order=True)
class Flow:
    """One flow: from a place to a place, a protocol and port, a family; `at` the address of
    the destination it goes to where that is not the place's first of the family (another
    interface's, the uplink's): `pc -> edge@10.2.0.1 tcp/443 v4`."""

    src: str
    dst: str
    proto: str  # icmp, tcp, udp
    port: int = 0
    v6: bool = False
    at: str = ""

    @classmethod
    def of(cls, src: str, dst: str, service: Service) -> Flow:
        return cls(src, dst, service.proto, service.port, service.v6)

    @property
    def service(self) -> Service:
        return Service(self.proto, self.port, self.v6)

    @property
    def service_words(self) -> str:
        return "icmp" if self.proto == "icmp" else f"{self.proto}/{self.port}"

    @property
    def family(self) -> str:
        return "v6" if self.v6 else "v4"

    @property
    def to(self) -> str:
        """The destination as flows name it: `edge`, or `edge@10.2.0.1`."""
        return f"{self.dst}@{self.at}" if self.at else self.dst

    def words(self) -> str:
        """`pc -> web tcp/443 v6`: a record file's and a report's name for the flow."""
        return f"{self.src} -> {self.to} {self.service_words} {self.family}"

    @classmethod
    def parse(cls, text: str) -> Flow:
        m = _FLOW.fullmatch(text.strip())
        if m is None:
            raise LabError(f"{text!r} is not a flow", "write it like: pc -> web tcp/443 v6")
        proto, _, port = m["service"].partition("/")
        if proto == "icmp" and port:
            raise LabError(f"{text!r}: icmp has no port", "write icmp")
        if proto != "icmp" and not port:
            raise LabError(f"{text!r}: {proto} needs a port", f"write {proto}/PORT")
        at = m["at"] or ""
        if at:
            try:
                version = ipaddress.ip_address(at).version
            except ValueError:
                raise LabError(f"{text!r}: {at!r} is not an address", "write PLACE@ADDRESS") from None
            if version != (6 if m["family"] == "v6" else 4):
                raise LabError(f"{text!r}: {at} is not a {m['family']} address", "write the flow's family")
        port_number = check_port(port) if port else 0
        return cls(m["src"], m["dst"], proto, port_number, m["family"] == "v6", at)


_FLOW = re.compile(
    r"(?P<src>.+?) -> (?P<dst>.+?)(?:@(?P<at>[0-9A-Fa-f:.]+))? "
    r"(?P<service>icmp|tcp/\d+|udp/\d+) (?P<family>v4|v6)"
)
