"""The script kind (`firewall = { script = "FILE" }`): the user's own bash script, any
tool, run with the same NSLAB_* variables as the stages. Checked with `bash -n`; its rules
have no lines of their own: rule coverage reads them from the place once the script ran,
chain by chain. Its ports and DNAT addresses are found in either syntax (a script may
call nft or iptables).

>>> KIND.ports("nft add rule inet t c tcp dport 22 accept\\niptables -A FORWARD -p udp --dport 53")
[('tcp', 22), ('udp', 53)]
"""

from __future__ import annotations

from typing import ClassVar

from nslab.firewall import iptables, nft
from nslab.firewall.kind import Kind, dnat_daddrs


class Script(Kind):
    name: ClassVar[str] = "script"
    load: ClassVar[tuple[str, ...]] = ("bash",)
    check: ClassVar[tuple[str | None, ...]] = ("bash", "-n")
    from_world: ClassVar[bool] = True
    noun: ClassVar[str] = "script"

    def ports(self, text: str) -> list[tuple[str, int]]:
        return sorted(nft.ports(text) | iptables.ports(text))

    def dnat_destinations(self, text: str) -> list[str]:
        return dnat_daddrs(text)


KIND = Script()
