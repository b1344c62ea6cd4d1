"""Listeners and connection probes inside a world's lab namespaces: one process per world.

Standard library only, and nothing from nslab: like agent.py it runs as it is on a remote
target. It is started inside a world (in the world's root network namespace, the lab's
host) and enters a lab namespace only to make a socket there (setns on its one thread; a
socket keeps the namespace it was made in), so one process holds every listener and runs
every probe of a scenario, concurrently, with no process start per probe (~20 ms each).

Outcomes are measured, not guessed: a raw ICMP socket in the probing namespace sees the
ICMP error that answers a probe (matched by addresses and ports), so a REJECT is told apart
from a TCP reset (both are ECONNREFUSED to connect()) and named by its code.

Requests and replies are JSON lines on stdin/stdout:
    {"id": 1, "op": "listen", "ns": "web", "proto": "tcp", "port": 80}
    {"id": 2, "op": "probe", "probes": [{"ns": "red", "proto": "tcp", "dst": "10.16.0.3",
     "port": 80, "timeout": 0.25}], "snap": ["host"]}
    {"id": 2, "results": [{"outcome": "accepted", ...}], "before": {...}, "after": {...}}
    {"id": 3, "op": "seen", "ns": "web", "proto": "tcp", "port": 80}
A listen with "proto": "icmp" (port 0) records the source of every echo request the
namespace receives (a raw socket sees them; the kernel still answers them).
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import json
import os
import select
import socket
import struct
import subprocess
import sys
import time
from typing import Any

CLONE_NEWNET = 0x40000000
_libc = ctypes.CDLL(None, use_errno=True)

# ICMP "destination unreachable" codes by the words iptables' REJECT uses for them
ICMP4_UNREACH = {
    0: "net-unreachable",
    1: "host-unreachable",
    2: "proto-unreachable",
    3: "port-unreachable",
    9: "net-prohibited",
    10: "host-prohibited",
    13: "admin-prohibited",
}
ICMP6_UNREACH = {0: "net-unreachable", 1: "admin-prohibited", 3: "host-unreachable", 4: "port-unreachable"}
PROTO = {"tcp": socket.IPPROTO_TCP, "udp": socket.IPPROTO_UDP, "icmp": socket.IPPROTO_ICMP}
PAYLOAD = b"nslab-probe\n"
HELD = 256  # accepted connections each side keeps open, newest first


class NoNamespace(Exception):
    pass


IP_PKTINFO = 8  # linux/in.h; the socket module names only the IPv6 one
IP_TRANSPARENT, IPV6_TRANSPARENT = 19, 75  # linux/in.h, linux/in6.h: a non-local source
IP_MTU_DISCOVER, IPV6_MTU_DISCOVER, PMTUDISC_DO = 10, 23, 2  # don't fragment


def in_netns(ns: str | None, make: Any) -> Any:
    """make() with this thread in lab namespace `ns` (None: the world's own, the host)."""
    if ns is None:
        return make()
    try:
        target = os.open(f"/run/netns/{ns}", os.O_RDONLY)
    except FileNotFoundError:
        raise NoNamespace(f"namespace {ns} does not exist") from None
    own = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
    try:
        if _libc.setns(target, CLONE_NEWNET) != 0:
            raise OSError(ctypes.get_errno(), f"cannot enter namespace {ns}")
        try:
            return make()
        finally:
            if _libc.setns(own, CLONE_NEWNET) != 0:  # pragma: no cover - would be a kernel bug
                os._exit(70)
    finally:
        os.close(own)
        os.close(target)


def plain(addr: str) -> str:
    """'::ffff:10.16.0.2' (a v4 peer on a dual-stack socket) as '10.16.0.2'."""
    return addr[7:] if addr.startswith("::ffff:") and "." in addr else addr


def checksum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    total = (total >> 16) + (total & 0xFFFF)
    total += total >> 16
    return ~total & 0xFFFF


# --- listeners ---------------------------------------------------------------------------


class Listeners:
    """Sockets listening in lab namespaces; who connected to each (the listener's own log)."""

    def __init__(self) -> None:
        self.socks: dict[int, tuple[socket.socket, str, str, int]] = {}  # fd -> (sock, ns, proto, port)
        self.seen: dict[tuple[str, str, int], list[str]] = {}
        # (address, port) of each: which probe it was, where NAT kept the port (nslab explore)
        self.peers: dict[tuple[str, str, int], list[tuple[str, int]]] = {}
        self.held: list[socket.socket] = []

    def listen(self, ns: str, proto: str, port: int) -> None:
        key = (ns, proto, port)
        if key in self.seen:
            return
        kind = socket.SOCK_STREAM if proto == "tcp" else socket.SOCK_DGRAM

        def make() -> socket.socket:
            try:  # one dual-stack socket answers IPv4 and IPv6
                sock = socket.socket(socket.AF_INET6, kind)
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                sock.bind(("::", port))
            except OSError as exc:
                if exc.errno == errno.EADDRINUSE:
                    raise
                sock = socket.socket(socket.AF_INET, kind)  # no IPv6 in this namespace
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                sock.bind(("0.0.0.0", port))
            if proto == "tcp":
                sock.listen(128)
            elif sock.family == socket.AF_INET6:  # the address each datagram came to (below)
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_RECVPKTINFO, 1)
            else:
                sock.setsockopt(socket.IPPROTO_IP, IP_PKTINFO, 1)
            sock.setblocking(False)
            return sock

        sock = in_netns(ns, make)
        self.socks[sock.fileno()] = (sock, ns, proto, port)
        self.seen[key] = []

    @staticmethod
    def echo(sock: socket.socket) -> Any:
        """Answer a datagram with itself (a UDP verdict needs an answer to mean something),
        from the address it came to: a wildcard socket would answer from the address routing
        picks, and the internet's server (on its loopback) answered from its uplink address,
        which no conntrack entry on the way expected (measured: every UDP flow to the
        internet was "no answer"). No route back (the internet to the lab): seen, not answered."""
        six = sock.family == socket.AF_INET6
        level, kind = (socket.IPPROTO_IPV6, socket.IPV6_PKTINFO) if six else (socket.IPPROTO_IP, IP_PKTINFO)
        data, ancillary, _, peer = sock.recvmsg(65535, socket.CMSG_SPACE(20))
        info = next((d for lv, k, d in ancillary if (lv, k) == (level, kind)), None)
        reply = []
        if info is not None:  # in6_pktinfo: address, ifindex; in_pktinfo: ifindex, spec_dst, address
            reply = [(level, kind, info[:16] + bytes(4) if six else bytes(4) + info[8:12] + bytes(4))]
        with contextlib.suppress(OSError):
            sock.sendmsg([data], reply, 0, peer)
        return peer

    def serve(self, fd: int) -> None:
        sock, ns, proto, port = self.socks[fd]
        try:
            if proto == "tcp":
                conn, peer = sock.accept()  # the handshake is the answer; the connection stays
                self.held.append(conn)  # open (ESTABLISHED to conntrack) until the world ends
                del self.held[:-HELD]
            else:
                peer = self.echo(sock)
        except (BlockingIOError, ConnectionError):
            return
        self.seen[(ns, proto, port)].append(plain(peer[0]))
        self.peers.setdefault((ns, proto, port), []).append((plain(peer[0]), peer[1]))


# --- probes ------------------------------------------------------------------------------


class Probe:
    """One connection attempt, datagram or echo request, and what came back."""

    def __init__(self, spec: dict[str, Any], ident: int, held: list[socket.socket]) -> None:
        self.held = held
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
        self.start = time.monotonic()
        self.deadline = self.start + float(spec.get("timeout", 0.25))

    def finish(self, outcome: str, **detail: Any) -> None:
        if self.result is None:
            seconds = round(time.monotonic() - self.start, 4)
            ids = {"sport": self.sport, "src": self.src, "ident": self.ident}  # nslab.trace finds it so
            self.result = {"outcome": outcome, "seconds": seconds, **ids, **detail}
            if self.sock is not None:
                if outcome == "accepted":
                    self.held.append(self.sock)  # stays ESTABLISHED, as a real client's would
                else:
                    self.sock.close()
                self.sock = None

    def begin(self, raw: Raw) -> None:
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

    def __init__(self) -> None:
        self.socks: dict[tuple[str, int], socket.socket] = {}
        self.by_fd: dict[int, tuple[str, int]] = {}
        # namespaces listening for echo requests (nslab explore: the source each one saw,
        # and with its identifier)
        self.echo_seen: dict[str, list[str]] = {}
        self.echo_peers: dict[str, list[tuple[str, int]]] = {}

    def listen(self, ns: str) -> list[str]:
        """Record the source of every echo request namespace `ns` receives, both families."""
        for family in (socket.AF_INET, socket.AF_INET6):
            with contextlib.suppress(OSError):  # no IPv6 in that namespace
                in_netns(ns, lambda family=family: self.get(ns, family))
        return self.echo_seen.setdefault(ns, [])

    def get(self, ns: str, family: int) -> socket.socket:
        key = (ns, family)
        if key not in self.socks:
            proto = socket.IPPROTO_ICMP if family == socket.AF_INET else socket.IPPROTO_ICMPV6
            sock = socket.socket(family, socket.SOCK_RAW, proto)
            sock.setblocking(False)
            self.socks[key] = sock
            self.by_fd[sock.fileno()] = key
        return self.socks[key]

    def read(self, fd: int, probes: list[Probe]) -> None:
        ns, family = self.by_fd[fd]
        sock = self.socks[(ns, family)]
        while True:
            try:
                data, peer = sock.recvfrom(65535)
            except BlockingIOError:
                return
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
                ident = struct.unpack("!H", data[4:6])[0]
                for p in probes:
                    if p.proto == "icmp" and p.ns == ns and p.ident == ident and p.dst == plain(peer[0]):
                        p.finish("replies")
                continue
            if (family, kind) not in ((socket.AF_INET, 3), (socket.AF_INET6, 1)):
                continue
            quoted = _quoted(family, data[8:])
            if quoted is None:
                continue
            proto, dst, sport, dport, ident = quoted
            names = ICMP4_UNREACH if family == socket.AF_INET else ICMP6_UNREACH
            reason = names.get(code, f"code {code}")
            for p in probes:
                if p.result is not None or p.ns != ns or p.dst != dst or PROTO[p.proto] != proto:
                    continue
                if (p.proto == "icmp" and ident == p.ident) or (p.sport == sport and p.port == dport):
                    p.finish("rejected", icmp=reason, by=plain(peer[0]))


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


# --- ICMP error rate limits ---------------------------------------------------------------

# The kernel sends an ICMP error to one destination at most once per icmp_ratelimit ms
# (after a burst): a REJECT probed again and again, or a matrix with many REJECT rows,
# then looks dropped (measured: 75 of 100 rejected verdicts came back as timeouts). Worlds
# are disposable and these sysctls are per network namespace, so probes turn them off in
# every namespace of the world.
RATE_LIMITS = ("ipv4/icmp_ratelimit", "ipv6/icmp/ratelimit", "ipv4/icmp_msgs_per_sec", "ipv4/icmp_msgs_burst")
UNLIMITED = {"ipv4/icmp_msgs_per_sec": "1000000", "ipv4/icmp_msgs_burst": "1000000"}


def unlimit_icmp(done: set[str]) -> None:
    """Lift the ICMP error rate limits in the world's namespaces not yet seen."""
    names = [None, *sorted(os.listdir("/run/netns"))] if os.path.isdir("/run/netns") else [None]
    for ns in names:
        key = ns or ""
        if key in done:
            continue

        def write() -> None:
            for name in RATE_LIMITS:
                try:
                    with open(f"/proc/sys/net/{name}", "w") as f:
                        f.write(UNLIMITED.get(name, "0"))
                except OSError:
                    pass  # no IPv6 here, or an older kernel without the setting

        try:
            in_netns(ns, write)
        except (NoNamespace, OSError):
            continue
        done.add(key)


# --- counters ----------------------------------------------------------------------------


def snapshot(places: list[list[Any]]) -> dict[str, str]:
    """Each firewall place's counters: [PLACE:TOOL, argvs] as the client sends them (from
    nslab.firewalls, the registry; "host" is the world's root namespace); the texts of
    several argvs joined by a line "@@nslab-v6" (IPv6's after IPv4's)."""
    out = {}
    for spec, argvs in places:
        place = spec.partition(":")[0]
        pre = [] if place == "host" else ["ip", "netns", "exec", place]
        texts = []
        for argv in argvs:
            try:
                texts.append(subprocess.run(pre + argv, capture_output=True, text=True, timeout=10).stdout)
            except (OSError, subprocess.TimeoutExpired):
                texts.append("")
        out[spec] = "@@nslab-v6\n".join(texts)
    return out


# --- the server --------------------------------------------------------------------------


class Server:
    def __init__(self) -> None:
        self.listeners = Listeners()
        self.raw = Raw()
        self.next_ident = os.getpid()
        self.held: list[socket.socket] = []
        self.unlimited: set[str] = set()

    def wait(self, probes: list[Probe]) -> None:
        """Serve listeners (and run probes, if any) until every probe has a result (each
        times out at its own deadline), or, with no probes, until stdin has a request."""
        while True:
            pending = [p for p in probes if p.result is None]
            if probes and not pending:
                return
            now = time.monotonic()
            rfds = list(self.listeners.socks) + list(self.raw.by_fd)
            wfds: list[int] = []
            for p in pending:
                if p.sock is not None:
                    (wfds if p.proto == "tcp" else rfds).append(p.sock.fileno())
            if not probes:
                rfds.append(sys.stdin.fileno())
            timeout = max(0.0, min(p.deadline for p in pending) - now) if pending else None
            r, w, _ = select.select(rfds, wfds, [], timeout)
            for fd in r:
                if fd in self.raw.by_fd:
                    self.raw.read(fd, pending)
            for fd in r:
                if fd in self.listeners.socks:
                    self.listeners.serve(fd)
            by_fd = {p.sock.fileno(): p for p in pending if p.sock is not None and p.result is None}
            for fd in set(r) | set(w):
                if fd in by_fd:
                    by_fd[fd].on_ready()
            # timed out only after what was ready was read: a probe sent first in a big batch
            # can pass its deadline while the others are still being sent, its answer queued
            # (a loaded CI machine lost every ping of the first namespace in the batch so)
            now = time.monotonic()
            for p in pending:
                if p.result is None and now >= p.deadline:
                    p.timed_out()
            if not probes and sys.stdin.fileno() in r:
                return

    def handle(self, req: dict[str, Any]) -> dict[str, Any]:
        op = req.get("op")
        if op == "listen" and req["proto"] == "icmp":  # echo requests: a raw socket sees them
            self.listeners.seen[(req["ns"], "icmp", 0)] = self.raw.listen(req["ns"])
            return {}
        if op == "listen":
            self.listeners.listen(req["ns"], req["proto"], int(req["port"]))
            return {}
        if op == "seen":
            key = (req["ns"], req["proto"], int(req["port"]))
            peers = (
                self.raw.echo_peers.get(key[0], []) if key[1] == "icmp" else self.listeners.peers.get(key, [])
            )
            return {"seen": self.listeners.seen.get(key, []), "peers": peers}
        if op == "probe":
            unlimit_icmp(self.unlimited)
            before = snapshot(req.get("snap", []))
            probes = []
            for spec in req["probes"]:
                self.next_ident += 1
                probe = Probe(spec, self.next_ident, self.held)
                probes.append(probe)
                probe.begin(self.raw)
            self.wait(probes)
            del self.held[:-HELD]
            after = snapshot(req.get("snap", []))
            return {"results": [p.result for p in probes], "before": before, "after": after}
        return {"error": f"unknown op {op!r}"}

    def run(self) -> None:
        out = sys.stdout
        out.write(json.dumps({"ready": True}) + "\n")
        out.flush()
        buf = b""
        while True:
            while b"\n" not in buf:
                self.wait([])  # listeners answer while we wait for the next request
                chunk = os.read(sys.stdin.fileno(), 65536)
                if not chunk:
                    return  # our caller is gone; the world ends us anyway
                buf += chunk
            line, buf = buf.split(b"\n", 1)
            req = json.loads(line)
            try:
                reply = self.handle(req)
            except NoNamespace as exc:
                reply = {"error": str(exc)}
            except OSError as exc:
                reply = {"error": f"{exc.strerror or exc}"}
            out.write(json.dumps({"id": req.get("id"), **reply}) + "\n")
            out.flush()


if __name__ == "__main__":
    Server().run()
