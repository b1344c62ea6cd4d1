"""firewalld on a lab host (`firewall = { firewalld = "FOLDER" }`): a daemon on a private
bus, writing one nft table (`inet firewalld`) through libnftables, with no counters and
rewritten on every reload, so a scenario's probe in its lab is traced by nftables."""

from __future__ import annotations

from nslab.managers.kind import ManagerKind

KIND = ManagerKind(
    name="firewalld",
    commands=("firewall-cmd", "firewall-offline-cmd"),
    tool="nft",
    listings=(("nft", "list", "ruleset"),),
    syntax="nft",
    counts=False,
    status=("firewall-cmd", "--list-all"),
)
