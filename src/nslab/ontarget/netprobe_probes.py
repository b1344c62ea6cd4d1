"""netprobe's probes: one Probe per flow (TCP, UDP, ICMP, IPv4 and IPv6), and the raw
ICMP sockets (Raw) that see the error answering a probe, so a REJECT is named by its code.
Standard library only, like netprobe.py, beside which it is uploaded and run."""

from __future__ import annotations

import errno
import os
import selectors
import socket
import struct
import sys
import time

# typing only for annotations, which `from __future__ import annotations` leaves unevaluated:
# importing it cost the helper's start ~10 ms of CPU (see netprobe.py). mypy takes this name
# as typing's.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

if __package__:  # imported as part of nslab
    from nslab.ontarget.netprobe_netns import (
        HELD,
        ICMP4_UNREACH,
        ICMP6_UNREACH,
        IP_MTU_DISCOVER,
        IP_TRANSPARENT,
        IPV6_MTU_DISCOVER,
        IPV6_TRANSPARENT,
        PAYLOAD,
        PMTUDISC_DO,
        PROTO,
        NoNamespace,
        checksum,
        in_netns,
        plain,
    )
else:  # run as a program (python3 -I -S netprobe.py, on the target): -I leaves the
    # program's own directory off sys.path, and its parts are beside it
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from netprobe_netns import (  # type: ignore[import-not-found,no-redef]
        HELD,
        ICMP4_UNREACH,
        ICMP6_UNREACH,
        IP_MTU_DISCOVER,
        IP_TRANSPARENT,
        IPV6_MTU_DISCOVER,
        IPV6_TRANSPARENT,
        PAYLOAD,
        PMTUDISC_DO,
        PROTO,
        NoNamespace,
        checksum,
        in_netns,
        plain,
    )


# --- probes ------------------------------------------------------------------------------


class Probe:
    """One connection attempt, datagram or echo request, and what came back."""

    def __init__(
        self,
        spec: dict[str, Any],
        ident: int,
        held: list[socket.socket],
        sel: selectors.BaseSelector,
        keep: int = HELD,
    ) -> None:
        self.held = held
        self.keep = keep  # accepted connections kept open at most (each holds a descriptor)
        self.sel = sel  # the probe's own socket is watched from begin() until it ends
        self.ns: str = spec["ns"]
        self.proto: str = spec["proto"]
        self.dst: str = spec["dst"]
        self.port: int = int(spec.get("port", 0))
        self.family = socket.AF_INET6 if ":" in self.dst else socket.AF_INET
        self.ident = ident & 0xFFFF
        self.sock: socket.socket | None = None
        self.sport = 0
        self.src = ""  # the address the probe left from (the kernel's choice)
        self.spoof: str = spec.get("from") or ""  # a source address not the namespace's own
        self.size = int(spec.get("size") or 0)  # an echo's data bytes (0: nslab's short payload)
        self.df = bool(spec.get("df"))  # don't fragment, here or on the way
        self.result: dict[str, Any] | None = None
        self.timeout = float(spec.get("timeout", 0.25))
        self.start = self.deadline = 0.0  # from begin(): a probe may wait its turn (Server.run_probes)

    def finish(self, outcome: str, **detail: Any) -> None:
        if self.result is None:
            seconds = round(time.monotonic() - self.start, 4)
            ids = {"sport": self.sport, "src": self.src, "ident": self.ident}  # nslab.probe.trace finds it so
            self.result = {"outcome": outcome, "seconds": seconds, **ids, **detail}
            if self.sock is not None:
                self.sel.unregister(self.sock)  # before it closes: its number is reused
                if outcome == "accepted":
                    self.held.append(self.sock)  # stays ESTABLISHED, as a real client's would
                    if len(self.held) > self.keep:  # the newest: a request's thousands would
                        del self.held[: len(self.held) - self.keep // 2]  # hold one each till its end
                else:
                    self.sock.close()
                self.sock = None

    def begin(self, raw: Raw) -> None:
        self.start = time.monotonic()
        self.deadline = self.start + self.timeout

        def make() -> socket.socket:
            icmp = raw.get(self.ns, self.family)  # where echo replies and ICMP errors arrive
            if self.proto == "icmp" and not self.spoof:
                return icmp
            if self.proto == "icmp":  # its own raw socket: the shared one keeps its source
                kind = socket.IPPROTO_ICMPV6 if self.family == socket.AF_INET6 else socket.IPPROTO_ICMP
                sock = socket.socket(self.family, socket.SOCK_RAW, kind)
            else:
                sock = socket.socket(
                    self.family, socket.SOCK_STREAM if self.proto == "tcp" else socket.SOCK_DGRAM
                )
            if self.spoof:  # IP_TRANSPARENT: bound to an address the namespace does not have
                v6 = self.family == socket.AF_INET6
                level, option = (
                    (socket.IPPROTO_IPV6, IPV6_TRANSPARENT) if v6 else (socket.IPPROTO_IP, IP_TRANSPARENT)
                )
                sock.setsockopt(level, option, 1)
                sock.bind((self.spoof, 0))
            sock.setblocking(False)
            return sock

        try:
            sock = in_netns(self.ns, make)
        except NoNamespace as exc:
            self.result = {"outcome": None, "error": str(exc)}
            return
        if self.proto == "icmp":
            self.send_echo(sock)
            if self.spoof:
                self.held.append(sock)  # kept until the world ends: its packet may be queued
            return
        self.sock = sock
        self.sel.register(sock, selectors.EVENT_WRITE if self.proto == "tcp" else selectors.EVENT_READ, self)
        code = sock.connect_ex((self.dst, self.port))
        if code not in (0, errno.EINPROGRESS):
            self.finish("unreachable", error=os.strerror(code), errno=errno.errorcode.get(code, str(code)))
            return
        self.src, self.sport = plain(sock.getsockname()[0]), sock.getsockname()[1]
        if self.proto == "udp":
            try:
                sock.send(PAYLOAD)
            except OSError as exc:
                self.finish("unreachable", error=exc.strerror, errno=errno.errorcode.get(exc.errno or 0, ""))

    def keys(self) -> list[tuple[Any, ...]]:
        """How an ICMP answer names this probe (Raw.read): an echo by its identifier, a
        connection or datagram by its addresses and ports."""
        if self.proto == "icmp":
            return [("echo", self.ns, self.ident)]
        return [(self.ns, PROTO[self.proto], self.dst, self.sport, self.port)]

    def send_echo(self, sock: socket.socket) -> None:
        kind = 8 if self.family == socket.AF_INET else 128
        header = struct.pack("!BBHHH", kind, 0, 0, self.ident, 1)
        body = (PAYLOAD * (self.size // len(PAYLOAD) + 1))[: self.size] if self.size else PAYLOAD
        if self.df:  # a router whose next link is smaller answers "fragmentation needed"
            v6 = self.family == socket.AF_INET6
            level, option = (
                (socket.IPPROTO_IPV6, IPV6_MTU_DISCOVER) if v6 else (socket.IPPROTO_IP, IP_MTU_DISCOVER)
            )
            sock.setsockopt(level, option, PMTUDISC_DO)
        packet = header + body
        if self.family == socket.AF_INET:  # the kernel sums ICMPv6 itself
            packet = struct.pack("!BBHHH", kind, 0, checksum(packet), self.ident, 1) + body
        try:
            sock.sendto(packet, (self.dst, 0))
        except OSError as exc:
            self.finish("unreachable", error=exc.strerror, errno=errno.errorcode.get(exc.errno or 0, ""))

    def on_ready(self) -> None:
        """The probe's own socket is readable or writable: connected, answered or an error."""
        assert self.sock is not None
        if self.proto == "tcp":
            code = self.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
            if code == 0:
                self.finish("accepted")
            elif code == errno.ECONNREFUSED:
                self.finish("refused")  # a reset; an ICMP error would have been matched first
            elif code not in (errno.EINPROGRESS, errno.EALREADY):
                self.finish(
                    "unreachable", error=os.strerror(code), errno=errno.errorcode.get(code, str(code))
                )
            return
        try:
            data = self.sock.recv(65535)
        except OSError as exc:
            if exc.errno == errno.ECONNREFUSED:
                return  # the ICMP error itself comes through the raw socket, with its code
            self.finish("unreachable", error=exc.strerror, errno=errno.errorcode.get(exc.errno or 0, ""))
            return
        if data == PAYLOAD:
            self.finish("answered")

    def timed_out(self) -> None:
        if self.proto == "tcp":
            self.finish("dropped")
        else:
            self.finish("lost" if self.proto == "icmp" else "no answer")


class Raw:
    """Raw ICMP sockets, one per namespace and family: they see echo replies and the ICMP
    errors that answer probes, with the probe's own header quoted inside."""

    def __init__(self, watch: Any = None) -> None:
        self.watch = watch or (lambda sock, what: None)  # the server's selector, for new sockets
        self.socks: dict[tuple[str, int], socket.socket] = {}
        self.by_fd: dict[int, tuple[str, int]] = {}
        # namespaces listening for echo requests (nslab explore: the source each one saw,
        # and with its identifier)
        self.echo_seen: dict[str, list[str]] = {}
        self.echo_peers: dict[str, list[tuple[str, int]]] = {}

    def listen(self, ns: str) -> list[str]:
        """Record the source of every echo request namespace `ns` receives, both families."""
        for family in (socket.AF_INET, socket.AF_INET6):
            try:  # noqa: SIM105  (contextlib: ~4 ms of the helper's start, see netprobe.py)
                in_netns(ns, lambda family=family: self.get(ns, family))
            except OSError:  # no IPv6 in that namespace
                pass
        return self.echo_seen.setdefault(ns, [])

    def get(self, ns: str, family: int) -> socket.socket:
        key = (ns, family)
        if key not in self.socks:
            proto = socket.IPPROTO_ICMP if family == socket.AF_INET else socket.IPPROTO_ICMPV6
            sock = socket.socket(family, socket.SOCK_RAW, proto)
            sock.setblocking(False)
            self.socks[key] = sock
            self.by_fd[sock.fileno()] = key
            self.watch(sock, ("raw", sock.fileno()))
        return self.socks[key]

    def read(self, fd: int, index: dict[tuple[Any, ...], Probe]) -> list[Probe]:
        """Every ICMP message waiting on one raw socket: echo requests recorded, echo replies
        and errors given to the probe they answer (found in `index`, Probe.keys()); the
        probes that ended."""
        ns, family = self.by_fd[fd]
        sock = self.socks[(ns, family)]
        ended: list[Probe] = []
        while True:
            try:
                data, peer = sock.recvfrom(65535)
            except BlockingIOError:
                return ended
            except OSError:  # a send's error left pending on the socket (ENETUNREACH, measured
                continue  # with 660 probes from a namespace without routes): its probe knows
            if family == socket.AF_INET:
                data = data[(data[0] & 0x0F) * 4 :]  # raw IPv4 sockets include the IP header
            if len(data) < 8:
                continue
            kind, code = data[0], data[1]
            if ns in self.echo_seen and (family, kind) in ((socket.AF_INET, 8), (socket.AF_INET6, 128)):
                self.echo_seen[ns].append(plain(peer[0]))
                self.echo_peers.setdefault(ns, []).append((plain(peer[0]), struct.unpack("!H", data[4:6])[0]))
                continue
            if (family == socket.AF_INET and kind == 0) or (family == socket.AF_INET6 and kind == 129):
                p = index.get(("echo", ns, struct.unpack("!H", data[4:6])[0]))
                if p is not None and p.result is None and p.dst == plain(peer[0]):
                    p.finish("replies")
                    ended.append(p)
                continue
            if (family, kind) not in ((socket.AF_INET, 3), (socket.AF_INET6, 1)):
                continue
            quoted = _quoted(family, data[8:])
            if quoted is None:
                continue
            proto, dst, sport, dport, ident = quoted
            names = ICMP4_UNREACH if family == socket.AF_INET else ICMP6_UNREACH
            key = ("echo", ns, ident) if proto == socket.IPPROTO_ICMP else (ns, proto, dst, sport, dport)
            p = index.get(key)
            if p is not None and p.result is None and p.dst == dst and PROTO[p.proto] == proto:
                p.finish("rejected", icmp=names.get(code, f"code {code}"), by=plain(peer[0]))
                ended.append(p)


def _quoted(family: int, inner: bytes) -> tuple[int, str, int, int, int] | None:
    """(protocol, destination, source port, destination port, echo id) of the packet an ICMP
    error quotes; None when too short to tell."""
    if family == socket.AF_INET:
        if len(inner) < 20:
            return None
        hl = (inner[0] & 0x0F) * 4
        proto = inner[9]
        dst = socket.inet_ntop(socket.AF_INET, inner[16:20])
        rest = inner[hl : hl + 8]
    else:
        if len(inner) < 40:
            return None
        proto = inner[6]
        dst = socket.inet_ntop(socket.AF_INET6, inner[24:40])
        rest = inner[40:48]
        proto = socket.IPPROTO_ICMP if proto == socket.IPPROTO_ICMPV6 else proto
    if len(rest) < 8:
        return None
    sport, dport = struct.unpack("!HH", rest[:4])
    ident = struct.unpack("!H", rest[4:6])[0] if proto == socket.IPPROTO_ICMP else 0
    return proto, dst, sport, dport, ident
