"""One probe as the netprobe helper takes it: a scenario's step and explore's flows both
build it here (they had each written the same dictionary).

>>> Spec("ns-red", "tcp", "10.16.0.3", 22, 0.25).request()
{'ns': 'ns-red', 'proto': 'tcp', 'dst': '10.16.0.3', 'port': 22, 'timeout': 0.25}
"""

from __future__ import annotations

from dataclasses import dataclass

from nslab.config import Settings


@dataclass(frozen=True)
class Spec:
    ns: str | None  # the source's namespace (None: the world's root, the lab's host)
    proto: str  # tcp, udp or icmp
    dst: str  # the destination address
    port: int  # 0 for icmp
    timeout: float  # seconds the helper waits for an answer
    source: str | None = None  # a spoofed source address (sent with IP_TRANSPARENT)
    size: int | None = None  # bytes of data of a spoofed echo request
    df: bool = False  # a spoofed echo request with Don't Fragment set

    def request(self) -> dict[str, object]:
        """The helper's JSON request (nslab/ontarget/netprobe.py): only the keys it uses."""
        out: dict[str, object] = {
            "ns": self.ns,
            "proto": self.proto,
            "dst": self.dst,
            "port": self.port,
            "timeout": self.timeout,
        }
        if self.source is not None:
            out.update({"from": self.source, "size": self.size or 0, "df": self.df})
        return out


def wait(settings: Settings, proto: str) -> float:
    """How long a probe of `proto` waits: a ping's wait for icmp, a probe's for tcp and udp."""
    return settings.ping_wait if proto == "icmp" else settings.probe_wait
