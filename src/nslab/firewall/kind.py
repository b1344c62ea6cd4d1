"""A firewall kind: what nslab knows of one kind of ruleset a lab may give a host
(`firewall = { KIND = "FILE" }`), in one class; each kind is a module of this package
(nft.py, iptables.py, script.py) and one line of the registry (nslab.firewall.KINDS).

`Kind` is the default implementation, and its answers are "the kind does not know": no
rules mapped to lines, no ports for explore, no DNAT addresses, no mutants, coverage not
measured (with the reason). A kind overrides what it knows; a kind that knows less still
works, and nslab says what it cannot tell rather than guessing.

A kind's rules are read back from the kernel by a reader (`Firewall`): how a place's
counters are snapshotted around a probe, listed for a person, parsed, and the Debian
package that has the tool. A kind names its reader by `tool(backend)`; a kind whose rules
land in iptables' tables (a manager such as ufw) reuses the iptables kind's readers and
overrides only how the host's firewall is started, where its rules map back to what the
user wrote, and what its evidence says made the rule (`made_by`).

>>> Kind().tool("nft") is None  # the lab's backend reads it
True
>>> Kind().ports("tcp dport 22 accept")  # a kind that knows no syntax finds no ports
[]
"""

from __future__ import annotations

import difflib
import re
import socket
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from nslab.firewall.rulemap import FileRule
from nslab.parse import Ruleset

V6_MARK = "@@nslab-v6\n"  # between IPv4's and IPv6's listing in one snapshot text
PREFIX_FIX = "a prefix length is 0-32 for IPv4, 0-128 for IPv6"


@dataclass(frozen=True)
class Firewall:
    """A reader: how a place's rules and counters are read (nslab.firewall.REGISTRY)."""

    tool: str
    snapshot: tuple[tuple[str, ...], ...]  # counters, machine-readable; IPv6's after V6_MARK
    listing: tuple[tuple[str, ...], ...]  # what a person reads
    package: str  # the Debian package that has the tool
    parse: Callable[[str], Ruleset]
    nft: bool = False  # its rules are nft's own: counted by nft rules of nslab's (nslab.firewall.instrument)


@dataclass(frozen=True)
class Problem:
    """What is wrong with a ruleset file, where, and how to fix it."""

    path: Path
    line: int | None  # 1-based, the faulty rule's
    what: str
    fix: str

    def words(self) -> str:
        return f"{shown(self.path)}: " + (f"line {self.line}: " if self.line else "") + self.what


@dataclass(frozen=True)
class Placed:
    """One file of a ruleset as put on the target: the user's path, where it went, and its
    bytes (an nft file's relative includes rewritten to where their files went)."""

    path: Path
    where: str
    data: bytes


WILDCARD = re.compile(r"[*?[]")  # an include naming many files (a glob)


def shown(path: Path) -> str:
    """A path as the user reads it: relative to the working folder where it is inside."""
    here = Path.cwd()
    return str(path.relative_to(here) if path.is_relative_to(here) else path)


class Kind:
    """One kind of ruleset file. Class attributes are the data; methods the knowledge. A
    kind gives at least `name` and `load`; without `check` its file is first checked when
    the rulesets stage loads it."""

    name: ClassVar[str] = ""
    package: ClassVar[str] = ""  # the Debian package whose tools load and read it
    needs: ClassVar[tuple[str, ...]] = ()  # features the target must have (nslab.scenario.session)
    load: ClassVar[tuple[str, ...]] = ()  # argv that loads it, the file's path last
    legacy: ClassVar[tuple[str, ...] | None] = None  # that argv with firewall.backend = legacy
    check: ClassVar[tuple[str | None, ...]] = ()  # argv that checks it (None: the file on stdin)
    read_with: ClassVar[str | None] = None  # the reader of its rules (None: the lab's backend's)
    syntax: ClassVar[str] = ""  # the rule syntax mutants change ("nft", "iptables"; "": none)
    front: ClassVar[str] = ""  # the netfilter front end its rules load into: xtables, nft ("": any)
    made_by: ClassVar[str] = ""  # what made its rules, said in the evidence ("ufw"; "": the file)
    from_world: ClassVar[bool] = False  # its rules are read from the place once it loaded
    include_depth: ClassVar[int] = 0  # how deep its files may include others (0: none)
    noun: ClassVar[str] = "file"  # what a fix calls its file ("fix the script at that line")

    def loader(self, backend: str) -> tuple[str, ...]:
        """The argv the rulesets stage loads a file of this kind with."""
        return self.legacy if backend == "legacy" and self.legacy else self.load

    def tool(self, backend: str) -> str | None:
        """The reader (nslab.firewall.REGISTRY) of a host's rules from a file of this kind;
        None: whatever the host's other files or the lab's backend are read with."""
        return self.read_with

    def rules(self, text: str) -> list[FileRule] | None:
        """Its rules by table, chain and line (nslab.firewall.rulemap); None: the kind does
        not map its rules to lines (coverage then reads them from the world, or says so)."""
        return None

    def not_counted(self) -> str:
        """Why rule coverage has no hits for a file of this kind ("" where it counts them):
        the file is then "not measured", with this reason (nslab.coverage.report)."""
        if self.from_world or self.rules("") is not None:
            return ""
        return f"nslab does not know which line of this {self.name} file made which rule"

    def problem(
        self,
        said: str,
        content: str,
        path: Path,
        loads: Callable[[str], bool] | None,
        interfaces: Sequence[str] = (),
    ) -> Problem:
        """The checker's complaint (`said`) as a Problem at the faulty line, where it names one.
        `loads(text)`: loads a changed file for real; `interfaces`: the host's."""
        m = re.search(r"line (\d+): (.*)", said)
        what = m[2] if m else said.strip()
        fix = f"fix the {self.noun} at that line" if m else f"fix the {self.noun} where the checker says"
        return Problem(path, int(m[1]) if m else None, what, fix)

    def check_static(self, path: Path) -> Problem | None:
        """Without root (no world to load it in): a problem a reader can see, or None."""
        return None

    def placements(self, path: Path, where: str) -> list[Placed]:
        """The file as put on the target at `where`, then the files it brings (includes)."""
        return [Placed(path, where, path.read_bytes())]

    def includes(self, text: str) -> list[str]:
        """The files a file of this kind includes, as written (relative to its folder,
        wildcards kept); the default includes none."""
        return []

    def ports(self, text: str) -> list[tuple[str, int]]:
        """(protocol, port) of every destination port its rules match on, sorted (nslab
        explore probes them); the default knows no syntax: none."""
        return []

    def knows_ports(self) -> bool:
        """Whether `ports` reads its files (a kind that does not is said by explore and
        diff: their flows to its host are then only ICMP and the ports they were given)."""
        return type(self).ports is not Kind.ports

    def dnat_destinations(self, text: str) -> list[str]:
        """Single addresses its DNAT rules answer for (`ip daddr 192.0.2.80 ... dnat`)."""
        return []


def close_word(word: str, known: tuple[str, ...]) -> str | None:
    """The known word `word` nearly spells (`rejct` -> reject), or None."""
    found = difflib.get_close_matches(word, known, n=1, cutoff=0.75)
    return found[0] if found and found[0] != word else None


def meant(word: str, known: tuple[str, ...], otherwise: str) -> str:
    """The fix for an unknown name: the known one it nearly spells, else `otherwise`."""
    close = difflib.get_close_matches(word, known, n=1, cutoff=0.6)
    return f"did you mean {close[0]}?" if close else otherwise


RANGE_ENDS = 2  # a port range is probed at its two ends: inside the range, not every port in it


def port_values(text: str, proto: str) -> list[int]:
    """Port numbers in an nft or iptables port expression: `22`, `{ 80, 443 }`, `1000-1010`,
    `8000:8001`, `ssh`; a range counts at its two ends."""
    out: list[int] = []
    for item in re.split(r"[\s,{}]+", text):
        if not item:
            continue
        ends = re.split(r"[-:]", item) if re.fullmatch(r"\d+[-:]\d+", item) else [item]
        for end in ends[:RANGE_ENDS]:
            if end.isdigit():
                port = int(end)
            else:
                try:
                    port = socket.getservbyname(end, proto)
                except OSError:
                    continue  # not a port name (a variable, a keyword): not a port to probe
            if 1 <= port <= 65535:
                out.append(port)
    return out


# `ip daddr 192.0.2.80`, `-d 192.0.2.80/32` (one address, not negated, not a set or subnet)
_DNAT_DADDR = re.compile(
    r"(?:\bip6?\s+daddr|(?:^|\s)(?:-d|--destination))\s+([0-9A-Fa-f:.]+)(?:/(32|128))?(?=\s)"
)


_DNAT = re.compile(r"\bdnat\b|-j\s+DNAT\b")  # nft's `dnat to`, iptables' `-j DNAT`


def dnat_daddrs(text: str) -> list[str]:
    """The single destination addresses (`ip daddr A`, `-d A`) of a ruleset's DNAT lines,
    comments left out, in order; the caller keeps the public ones no interface has."""
    out: list[str] = []
    for line in (x.split("#", 1)[0] for x in text.splitlines()):
        if _DNAT.search(line):
            out += [a[0] for a in _DNAT_DADDR.findall(line) if a[0] not in out]
    return out
