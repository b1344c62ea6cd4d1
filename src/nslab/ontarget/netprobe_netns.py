"""netprobe's part that enters lab namespaces: setns around a socket's making, the
constants its listeners and probes share, and the ICMP error rate limits it lifts.
Standard library only, like netprobe.py, beside which it is uploaded and run."""

from __future__ import annotations

import os
import socket
import struct

# typing only for annotations (unevaluated: `from __future__ import annotations`): it cost
# the helper's start ~10 ms of CPU (see netprobe.py). mypy takes this name as typing's.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

CLONE_NEWNET = 0x40000000


def _libc_setns() -> Callable[[int, int], None]:
    """setns(2) where os.setns is missing (python < 3.12): libc's, through ctypes, loaded
    on a helper's first namespace (importing ctypes cost every start ~3 ms of CPU)."""
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)

    def setns(fd: int, nstype: int) -> None:
        if libc.setns(fd, nstype) != 0:
            err = ctypes.get_errno()
            raise OSError(err, os.strerror(err))

    return setns


_setns: Callable[[int, int], None] | None = getattr(os, "setns", None)


def setns(fd: int, nstype: int) -> None:
    global _setns
    if _setns is None:
        _setns = _libc_setns()
    _setns(fd, nstype)


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
NOFILE = 1 << 16  # descriptors wanted: a listener per host and port, a raw socket per
# namespace and family, a socket per probe in flight, HELD twice (measured: 100 hosts and
# 10 ports, ~1,400 open at once)
SPARE = 64  # descriptors kept free for snapshots' pipes, setns and new namespaces' sockets
MOST_AT_ONCE = 4096  # probes in flight, however many descriptors are left
BURST = 32  # probes begun between two looks at the sockets


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
        try:
            setns(target, CLONE_NEWNET)
        except OSError as exc:
            raise OSError(exc.errno, f"cannot enter namespace {ns}") from None
        try:
            return make()
        finally:
            try:
                setns(own, CLONE_NEWNET)
            except OSError:  # pragma: no cover - would be a kernel bug
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
