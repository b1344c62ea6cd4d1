"""The checks every lab table goes through, in either notation: one function per kind of
value, each raising one LabError that names the field and says the fix. A table is named
by its name where it has one (`host web.interfaces #1.address`, as the lab-wide checks say
`host web.eth0`), by its position where not (`host #2.name`, counted from 1 as a person
counts tables in a file): a name is found in the file at a glance, a position counted.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable
from typing import Any

from nslab.errors import LabError

IFNAMSIZ = 15  # the kernel's limit for interface names, in bytes, without the NUL
NAME_RE = re.compile(r"[a-z][a-z0-9-]*\Z")
IFNAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*\Z")
CHAIN_RE = re.compile(r"[A-Za-z][A-Za-z0-9_-]*\Z")
CHAIN_MAX = 28  # iptables chain names: 29 bytes including the NUL
BUILTIN_CHAINS = {"INPUT", "OUTPUT", "FORWARD", "PREROUTING", "POSTROUTING"}
POLICIES = ("ACCEPT", "DROP")
# Words the CLI and the steps give a meaning of their own: no host may be called so (a
# step saying "the internet" or "host" must mean one thing), in either notation.
RESERVED = ("host", "the", "internet", "gateway", "uplink", "isp", "all", "world")
DOC4 = (ipaddress.ip_network("198.51.100.0/24"), ipaddress.ip_network("203.0.113.0/24"))
# the upstream may take the third IPv4 documentation range too (a real host's uplink
# written as 192.0.2.1 in its ruleset runs as is)
UPSTREAM4 = (*DOC4, ipaddress.ip_network("192.0.2.0/24"))
DOC6 = ipaddress.ip_network("2001:db8::/32")
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


def at(table: str, index: int, name: str | None = None) -> str:
    """The name of a table's entry in messages: `host web` where the entry's name is known
    (checked), else its position: `host #1` is the file's first [[host]]."""
    return f"{table} {name}" if name else f"{table} #{index + 1}"


def check_keys(where: str, table: Any, allowed: Iterable[str]) -> dict[str, Any]:
    """A TOML table with only the keys `allowed`; an unknown one names the valid keys."""
    if not isinstance(table, dict):
        raise LabError(f"{where}: expected a table, got {type(table).__name__}")
    allowed = set(allowed)
    unknown = sorted(set(table) - allowed)
    if unknown:
        raise LabError(
            f"{where}: unknown key '{unknown[0]}'", "valid keys are: " + ", ".join(sorted(allowed))
        )
    return table


def check_str(where: str, value: Any) -> str:
    if not isinstance(value, str):
        raise LabError(f"{where}: expected a string, got {value!r}")
    return value


def check_name(where: str, value: Any) -> str:
    """Host, network and lab names: lowercase, so they are safe in paths, argv and env."""
    value = check_str(where, value)
    if not NAME_RE.match(value):
        raise LabError(
            f"{where}: {value!r} is not a valid name",
            "use lowercase letters, digits and '-', starting with a letter (e.g. 'red')",
        )
    if len(value.encode()) > IFNAMSIZ:
        raise LabError(f"{where}: {value!r} is longer than {IFNAMSIZ} bytes", "use a shorter name")
    return value


def check_unreserved(where: str, name: str, what: str) -> str:
    """A host's name that is none of the words steps and the CLI reserve."""
    if name in RESERVED:
        raise LabError(
            f"{where}: '{name}' is a word nslab's steps and CLI reserve",
            f"rename the {what} (reserved: " + ", ".join(RESERVED) + ")",
        )
    return name


def check_ifname(where: str, value: Any) -> str:
    """Interface names: the kernel's IFNAMSIZ limit and no characters a shell would act on."""
    value = check_str(where, value)
    size = len(value.encode())
    if size > IFNAMSIZ:
        raise LabError(
            f"{where}: {value!r} is {size} bytes; Linux interface names are at most "
            f"{IFNAMSIZ} bytes (IFNAMSIZ)",
            f"set {where.rsplit('.', 1)[-1]} to a name of at most {IFNAMSIZ} bytes",
        )
    if not IFNAME_RE.match(value):
        raise LabError(
            f"{where}: {value!r} is not a valid interface name",
            "use letters, digits, '_', '.' and '-' only",
        )
    return value


def check_chain(where: str, value: Any) -> str:
    """A custom iptables chain's name (the host's chain, NAVY in the seed story)."""
    value = check_str(where, value)
    if not CHAIN_RE.match(value) or len(value) > CHAIN_MAX:
        raise LabError(
            f"{where}: {value!r} is not a valid iptables chain name",
            f"use letters, digits, '_' and '-', at most {CHAIN_MAX} characters (e.g. NAVY)",
        )
    if value.upper() in BUILTIN_CHAINS:
        raise LabError(f"{where}: {value!r} is a built-in chain", "choose a custom name like NAVY")
    return value


def check_policy(where: str, value: Any) -> str:
    policy = check_str(where, value).upper()
    if policy not in POLICIES:
        raise LabError(f"{where}: {policy!r} is not a FORWARD policy", "use ACCEPT or DROP")
    return policy


def check_domain(where: str, value: Any) -> str:
    value = check_str(where, value)
    if not re.fullmatch(r"[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*", value):
        raise LabError(f"{where}: {value!r} is not a valid domain name", "use something like example.test")
    return value


def routable(ip: IPAddress) -> bool:
    """Whether the (simulated) internet routes to `ip`: a public address, the documentation
    ranges standing in for public ones; never a private range (RFC 1918, ULA, ...)."""
    return ip.is_global or (any(ip in n for n in UPSTREAM4) if ip.version == 4 else ip in DOC6)


def check_documentation(where: str, ip: IPAddress) -> IPAddress:
    """An address of the simulated internet: documentation ranges only, never a real one."""
    if not (any(ip in n for n in UPSTREAM4) if ip.version == 4 else ip in DOC6):
        raise LabError(
            f"{where}: {ip} is not in a documentation range",
            "the simulated internet uses 192.0.2.0/24, 198.51.100.0/24, 203.0.113.0/24, 2001:db8::/32 only",
        )
    return ip


def check_unique(what: str, items: Iterable[tuple[str, str]]) -> None:
    """Every value once: the second use names the first."""
    seen: dict[str, str] = {}
    for where, value in items:
        if value in seen:
            raise LabError(
                f"{where}: {what} {value!r} is already used by {seen[value]}", f"give each a distinct {what}"
            )
        seen[value] = where


def check_subnet(where: str, value: Any, version: int) -> Any:
    text = check_str(where, value)
    example = "2001:db8:1::/64" if version == 6 else "10.1.0.0/24"
    try:
        net = ipaddress.ip_network(text)
    except ValueError as exc:
        raise LabError(f"{where}: {text!r} is not a subnet: {exc}", f"write it like {example}") from None
    if net.version != version:
        raise LabError(f"{where}: {text} is an IPv{net.version} subnet", f"give an IPv{version} subnet here")
    return net


def check_address(where: str, value: Any, subnets: Iterable[Any], version: int) -> Any:
    """An interface address: in one of `subnets` of its version, prefix added when left out."""
    text = check_str(where, value)
    nets = [s for s in subnets if s is not None and s.version == version]
    try:
        ip = ipaddress.ip_interface(text).ip if "/" in text else ipaddress.ip_address(text)
    except ValueError as exc:
        raise LabError(f"{where}: {text!r} is not an address: {exc}") from None
    if ip.version != version:
        raise LabError(f"{where}: {ip} is an IPv{ip.version} address", f"give an IPv{version} address here")
    home = next((n for n in nets if ip in n), None)
    if home is None:
        raise LabError(
            f"{where}: {ip} is in none of the network's subnets ({', '.join(map(str, nets)) or 'none'})",
            "pick an address in the network's subnet, or give the network that subnet",
        )
    iface = ipaddress.ip_interface(f"{ip}/{home.prefixlen}")
    if "/" in text and ipaddress.ip_interface(text).network.prefixlen != home.prefixlen:
        raise LabError(f"{where}: prefix of {text} differs from {home}", f"write it as {iface}")
    # a /31 (RFC 3021) or /32 has no network or broadcast address: both are hosts
    if version == 4 and home.prefixlen < 31 and ip in (home.network_address, home.broadcast_address):
        raise LabError(f"{where}: {ip} is the network or broadcast address of {home}", "pick a host address")
    return iface


def check_mtu(where: str, value: Any, v6: bool) -> int:
    """An interface's MTU: 68 (IPv4's least) to 65535; 1280 at least where it has IPv6."""
    if not isinstance(value, int) or isinstance(value, bool):
        raise LabError(f"{where}: {value!r} is not a number of bytes", "e.g. mtu = 1400")
    low = 1280 if v6 else 68
    if not low <= value <= 65535:
        why = " (IPv6 needs 1280)" if v6 and value < 1280 else ""
        raise LabError(f"{where}: {value} is out of range{why}", f"use {low} to 65535")
    return value


def check_documentation_value(where: str, value: Any, cls: Any) -> Any:
    """An upstream address of class `cls` (an address or an interface), in a documentation
    range (the "internet" is simulated)."""
    text = check_str(where, value)
    try:
        parsed = cls(text)
    except ValueError as exc:
        raise LabError(f"{where}: {text!r} is not valid: {exc}") from None
    check_documentation(where, getattr(parsed, "ip", parsed))
    return parsed


# [upstream] keys naming the uplink as the real host has it: alias -> the Upstream field
ALIASES = {"interface": "uplink", "address": "host_address", "address6": "host_address6"}


def check_uplink_address(where: str, value: Any, version: int = 4) -> Any:
    """The uplink's address as the real host has it: a CIDR in a documentation or a public
    range (it lives in the world only; a private one is the lab's, not the internet's)."""
    text = check_str(where, value)
    cls = ipaddress.IPv6Interface if version == 6 else ipaddress.IPv4Interface
    example = "2001:db8:f::1/64" if version == 6 else "192.0.2.1/24"
    key, prefix = where.rsplit(".", 1)[-1], example.rsplit("/", 1)[1]
    try:
        parsed = cls(text)
    except ValueError as exc:
        raise LabError(f"{where}: {text!r} is not an IPv{version} address with its prefix: {exc}",
                       f'write it like {key} = "{example}"') from None  # fmt: skip
    if "/" not in text:
        raise LabError(f"{where}: {text!r} has no prefix length",
                       f'write it like {key} = "{text}/{prefix}"')  # fmt: skip
    if parsed.network.num_addresses < 4:
        raise LabError(f"{where}: {parsed} leaves no address for the isp's side",
                       f"use a prefix of /{parsed.max_prefixlen - 2} or shorter, e.g. /{prefix}")  # fmt: skip
    if not routable(parsed.ip):
        raise LabError(f"{where}: {parsed.ip} is not a public or documentation address",
                       f"the internet's side of the uplink, e.g. {example}")  # fmt: skip
    return parsed


def other_address(mine: Any) -> Any:
    """The isp's side of the uplink: the subnet's first host address that is not `mine`."""
    ip = next(a for a in mine.network.hosts() if a != mine.ip)
    return type(mine)(f"{ip}/{mine.network.prefixlen}")
