"""The sysctls a lab sets, checked against the kernel of the machine the lab runs on.

A lab file is read anywhere (`nslab validate` here, a run over ssh or in a VM there): the
parser (nslab.lab.tables) checks what the file alone tells (net.* keys, plain values, a
per-interface key naming one of the host's interfaces). Whether the kernel has the key is
the target's to say: its /proc/sys/net, listed once on the target, not this machine's.

>>> kernel = KernelSysctls(["net/ipv4/ip_forward", "net/ipv4/conf/default/rp_filter"])
>>> kernel.problem("net.ipv4.conf.eth0.rp_filtr")
"ipv4 conf has no setting 'rp_filtr'; did you mean rp_filter?"
>>> kernel.problem("net.ipv4.ip_forwrd")
'a network namespace on this kernel has no such sysctl; did you mean net.ipv4.ip_forward?'
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from typing import TYPE_CHECKING

from nslab.errors import LabError
from nslab.lab.model import Lab

if TYPE_CHECKING:
    from nslab.machine.targets.base import Target

_NET = "/proc/sys/net"


class KernelSysctls:
    """The net.* sysctls one kernel has: the files under its /proc/sys/net, as paths
    relative to /proc/sys ("net/ipv4/ip_forward")."""

    def __init__(self, files: Iterable[str]) -> None:
        self.files = frozenset(files)

    @classmethod
    def of(cls, target: Target) -> KernelSysctls | None:
        """The sysctls a fresh network namespace has on `target`'s kernel (local, ssh, a
        VM), listed in one command: a lab's hosts and its world are such namespaces, which
        lack many of the root's (net.core.netdev_max_backlog, the bpf_jit_* keys: 322 files
        in the root, 262 in a new namespace, measured on Debian 12's 6.1). None where none
        can be listed (not Linux, no unshare): the keys then go unchecked, as no answer
        beats a wrong one."""
        argv = ["unshare", "--net", "find", _NET, "-type", "f"]
        if not target.is_root:  # as a world without root: in a user namespace of its own
            argv[1:1] = ["--user", "--map-root-user"]
        listed = target.run(argv, timeout=30)
        files = [line.removeprefix("/proc/sys/") for line in listed.stdout.splitlines()]
        files = [f for f in files if f.startswith("net/")]
        return cls(files) if listed.ok and files else None

    def names_in(self, *folder: str) -> list[str]:
        """The entries directly under /proc/sys/FOLDER (files and folders)."""
        top = "/".join(folder) + "/"
        return sorted({f[len(top) :].split("/")[0] for f in self.files if f.startswith(top)})

    def problem(self, key: str) -> str | None:
        """Why `key` is no sysctl of a network namespace on this kernel (None: it is one). A
        per-interface key (net.ipv4.conf.IFACE.NAME) needs a NAME every interface has (as
        conf/default lists them); the interface itself is the lab file's to name."""
        parts = key.split(".")
        if len(parts) == 5 and parts[1] in ("ipv4", "ipv6") and parts[2] in ("conf", "neigh"):
            # a new namespace has no neigh/default (measured, 6.1): its loopback's neigh
            # settings are every interface's
            names = self.names_in(*parts[:3], "default") or self.names_in(*parts[:3], "lo")
            if parts[4] not in names:
                close = difflib.get_close_matches(parts[4], names, n=1)
                return f"{parts[1]} {parts[2]} has no setting {parts[4]!r}" + (
                    f"; did you mean {close[0]}?" if close else ""
                )
            return None
        if "/".join(parts) not in self.files:
            close = difflib.get_close_matches(parts[-1], self.names_in(*parts[:-1]), n=1)
            return "a network namespace on this kernel has no such sysctl" + (
                f"; did you mean {'.'.join(parts[:-1])}.{close[0]}?" if close else ""
            )
        return None


def check_sysctls(lab: Lab, kernel: KernelSysctls | None, lab_file: str, target: str) -> None:
    """Every sysctl `lab` sets ([lab] sysctls, each host's) is one the kernel has; the first
    that is not is one LabError naming the lab file, the field and the target."""
    if kernel is None:
        return
    tables = [("lab.sysctls", lab.host_sysctls)] + [(f"host {h.name}.sysctls", h.sysctls) for h in lab.hosts]
    for where, sysctls in tables:
        for key, _ in sysctls:
            unknown = kernel.problem(key)
            if unknown:
                raise LabError(
                    f"{lab_file}: {where}: {key!r}: {unknown} (the {target} target's kernel)",
                    f"give a key `sysctl -a` lists in a network namespace on the {target} target",
                )
