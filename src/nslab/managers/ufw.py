"""ufw on a lab host (`firewall = { ufw = [...] }` or `{ ufw = "FOLDER" }`): its rules are
iptables rules (iptables-nft on Debian 12) with their own counters, in chains named
ufw-* (`ufw-user-input rule 1`); its default policies are the built-in chains'."""

from __future__ import annotations

from nslab.managers.kind import ManagerKind

KIND = ManagerKind(
    name="ufw",
    commands=("ufw",),
    tool="iptables",
    listings=(("iptables-save",), ("ip6tables-save",)),
    syntax="iptables",
    counts=True,
    status=("ufw", "status", "verbose"),
)
