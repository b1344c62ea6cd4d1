"""Listeners and connection probes inside a world's lab namespaces: one process per world,
started as netprobe.py beside this file (the program; this is its server).

Standard library only, and nothing from nslab: like agent.py it runs as it is on a remote
target, with its parts beside it (netprobe_netns.py: entering namespaces;
netprobe_probes.py: the probes and the raw ICMP sockets that see their answers). It is
started inside a world (in the world's root network namespace, the lab's host) and enters
a lab namespace only to make a socket there (setns on its one thread; a socket keeps the
namespace it was made in), so one process holds every listener and runs every probe of a
scenario, concurrently, with no process start per probe (~20 ms each).

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

Scale: every socket is watched with epoll (selectors), never select(), which cannot watch a
descriptor above 1023 (a lab of 25 hosts and 10 ports crashed so); the descriptor limit
(RLIMIT_NOFILE) is raised as far as the kernel allows at start, and the ready line says
what it is ({"ready": true, "nofile": N, "nofile_note": "..."} where it could not be
raised); a probe request runs at most as many probes at once as descriptors are left,
starting the next as each ends.
"""

from __future__ import annotations

import errno
import heapq
import json
import os
import resource
import selectors
import socket
import sys
import time
from collections import deque

# typing only for annotations, which `from __future__ import annotations` leaves unevaluated:
# importing it cost the helper's start ~10 ms of CPU on python 3.11 (min of 20, -X importtime
# agrees), the most of any module it imported. mypy takes this name as typing's.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

if __package__:  # imported as part of nslab
    from nslab.ontarget.netprobe_netns import (
        BURST,
        HELD,
        IP_PKTINFO,
        MOST_AT_ONCE,
        NOFILE,
        SPARE,
        NoNamespace,
        in_netns,
        plain,
        unlimit_icmp,
    )
    from nslab.ontarget.netprobe_probes import Probe, Raw
else:  # run as a program (python3 -I -S netprobe.py, on the target): -I leaves the
    # program's own directory off sys.path, and its parts are beside it
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from netprobe_netns import (  # type: ignore[import-not-found,no-redef]
        BURST,
        HELD,
        IP_PKTINFO,
        MOST_AT_ONCE,
        NOFILE,
        SPARE,
        NoNamespace,
        in_netns,
        plain,
        unlimit_icmp,
    )
    from netprobe_probes import Probe, Raw  # type: ignore[import-not-found,no-redef]


# --- listeners ---------------------------------------------------------------------------


class Listeners:
    """Sockets listening in lab namespaces; who connected to each (the listener's own log)."""

    def __init__(self, watch: Any = None) -> None:
        self.watch = watch or (lambda sock, what: None)  # the server's selector, for new sockets
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
        self.watch(sock, ("listener", sock.fileno()))
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
        # not contextlib.suppress: importing contextlib cost the helper's start ~4 ms of CPU
        try:  # noqa: SIM105
            sock.sendmsg([data], reply, 0, peer)
        except OSError:
            pass
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


# --- counters ----------------------------------------------------------------------------


def snapshot(places: list[list[Any]]) -> dict[str, str]:
    """Each firewall place's counters: [PLACE:TOOL, argvs] as the client sends them (from
    nslab.firewall's snapshot argvs; "host" is the world's root namespace); the texts of
    several argvs joined by a line "@@nslab-v6" (IPv6's after IPv4's)."""
    # imported here, by a helper's first probe: a world that only listens never runs a
    # command, and importing subprocess cost every helper's start ~8 ms of CPU
    import subprocess

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


def raise_nofile() -> tuple[int, str]:
    """RLIMIT_NOFILE as high as the kernel allows (root may raise the hard limit up to
    fs.nr_open), up to NOFILE: the limit now, and why it is lower where it is."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    try:
        with open("/proc/sys/fs/nr_open") as f:
            ceiling = int(f.read())
    except (OSError, ValueError):
        ceiling = hard
    want = max(soft, min(NOFILE, ceiling))
    for limits in ((want, max(want, hard)), (min(want, hard), hard)):
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, limits)
            break
        except (ValueError, OSError):
            continue
    now = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    why = f"the hard limit is {hard}, and this process may not raise it (CAP_SYS_RESOURCE)"
    return now, "" if now >= want else why


def open_descriptors() -> int:
    try:
        return len(os.listdir("/proc/self/fd"))
    except OSError:
        return 0


class Server:
    def __init__(self) -> None:
        self.sel = selectors.DefaultSelector()  # epoll: no limit on descriptor numbers
        self.listeners = Listeners(self.watch)
        self.raw = Raw(self.watch)
        self.next_ident = os.getpid()
        self.held: list[socket.socket] = []
        self.unlimited: set[str] = set()
        self.nofile, self.nofile_note = raise_nofile()
        self.window = MOST_AT_ONCE

    def watch(self, sock: socket.socket, what: tuple[str, int]) -> None:
        self.sel.register(sock, selectors.EVENT_READ, what)

    def room(self) -> tuple[int, int]:
        """Probes that may be in flight at once (one descriptor each at most), and accepted
        connections kept open meanwhile (HELD twice, fewer where descriptors are few)."""
        free = self.nofile - open_descriptors() - SPARE
        keep = max(0, min(2 * HELD, free // 4))
        return min(MOST_AT_ONCE, free - keep), keep

    def wait(self, todo: deque[Probe] | None = None) -> None:
        """Run probes (at most self.window at once, the next begun as one ends) until each
        has a result (each times out at its own deadline), serving listeners meanwhile; with
        none, serve listeners until stdin has a request."""
        stdin = sys.stdin.fileno()
        if todo is None:
            try:
                self.sel.register(stdin, selectors.EVENT_READ, ("stdin", stdin))
            except PermissionError:  # a file (epoll takes none): always ready to read
                return
            try:
                while self.pump(None, {}, set()) != -1:
                    pass
            finally:
                self.sel.unregister(stdin)
            return
        flying: set[Probe] = set()
        deadlines: list[tuple[float, int, Probe]] = []  # a heap; ended probes leave it late
        index: dict[tuple[Any, ...], Probe] = {}
        while True:
            # a few at a time, listening in between: beginning 2,048 at once kept this
            # process (their listeners too) from answering the first before their deadline
            # (measured: 2,889 of 9,240 UDP flows "no answer" that were answered)
            for _ in range(min(BURST, len(todo), self.window - len(flying))):
                p = todo.popleft()
                p.begin(self.raw)
                if p.result is None:
                    flying.add(p)
                    heapq.heappush(deadlines, (p.deadline, id(p), p))
                    index.update(dict.fromkeys(p.keys(), p))
            if not flying and not todo:
                return
            now = time.monotonic()
            room = todo and len(flying) < self.window
            self.pump(0.0 if room else max(0.0, deadlines[0][0] - now), index, flying)
            if deadlines and deadlines[0][0] <= time.monotonic():
                while self.pump(0.0, index, flying):  # what has come counts, however late we look
                    pass
                now = time.monotonic()
                while deadlines and deadlines[0][0] <= now:
                    p = heapq.heappop(deadlines)[2]
                    if p.result is None:
                        p.timed_out()
                    flying.discard(p)

    def pump(self, timeout: float | None, index: dict[tuple[Any, ...], Probe], flying: set[Probe]) -> int:
        """One round of ready sockets: ICMP first (an error names its probe before the
        probe's own socket says "refused"), then listeners, then probes; the events seen,
        or -1 when stdin is ready (a request)."""
        events = [key.data for key, _ in self.sel.select(timeout)]
        for what in events:
            if isinstance(what, tuple) and what[0] == "raw":
                flying.difference_update(self.raw.read(what[1], index))
        for what in events:
            if isinstance(what, tuple) and what[0] == "listener":
                self.listeners.serve(what[1])
        for what in events:
            if isinstance(what, Probe) and what.result is None and what.sock is not None:
                what.on_ready()
                if what.result is not None:
                    flying.discard(what)
        if any(isinstance(w, tuple) and w[0] == "stdin" for w in events):
            return -1
        return len(events)

    def run_probes(self, specs: list[dict[str, Any]]) -> list[Probe]:
        """Every probe of a request, at most room() at once: the next begins as one ends."""
        self.window, keep = self.room()
        probes = []
        for spec in specs:
            self.next_ident += 1
            probes.append(Probe(spec, self.next_ident, self.held, self.sel, keep))
        if self.window < 1:
            raise OSError(
                errno.EMFILE,
                f"{open_descriptors()} descriptors open of the {self.nofile} allowed (RLIMIT_NOFILE"
                + (f": {self.nofile_note}" if self.nofile_note else "")
                + "): no room for a probe; raise the target's limit (ulimit -n)",
            )
        self.wait(deque(probes))
        return probes

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
            probes = self.run_probes(list(req["probes"]))
            for old in self.held[:-HELD]:
                old.close()
            del self.held[:-HELD]
            after = snapshot(req.get("snap", []))
            return {"results": [p.result for p in probes], "before": before, "after": after}
        return {"error": f"unknown op {op!r}"}

    def run(self) -> None:
        out = sys.stdout
        ready = {
            "ready": True,
            "nofile": self.nofile,
            **({"nofile_note": self.nofile_note} if self.nofile_note else {}),
        }
        out.write(json.dumps(ready) + "\n")
        out.flush()
        buf = b""
        while True:
            while b"\n" not in buf:
                self.wait()  # listeners answer while we wait for the next request
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
                if exc.errno == errno.EMFILE and "RLIMIT" not in reply["error"]:  # say which limit
                    reply["error"] += (
                        f" ({open_descriptors()} open, RLIMIT_NOFILE {self.nofile}"
                        + (f": {self.nofile_note}" if self.nofile_note else "")
                        + "; raise the target's limit, ulimit -n)"
                    )
            out.write(json.dumps({"id": req.get("id"), **reply}) + "\n")
            out.flush()
