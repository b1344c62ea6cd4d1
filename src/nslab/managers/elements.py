"""The one place nslab parses a firewall manager's own configuration into its rules (pure
text in, positions out; nslab.managers.mutants changes them):

- a ufw command of the lab file (`allow 22/tcp`, `deny from 10.0.0.0/8 to any port 5432`,
  `default deny incoming`): where its action word and its port numbers are;
- ufw's user.rules (user6.rules): its rule blocks, as ufw writes them (backend_iptables
  `_write_rules`): a `### tuple ### ACTION PROTO DPORT DST SPORT SRC [DAPP SAPP] DIR`
  line, then the `-A ufw-user-...` lines made from it, up to a blank line;
- a firewalld zone or policy file: its rule elements (`<service>`, `<port>`, `<rule>`, a
  rich rule as firewalld stores it, `<forward-port>`, `<source>`, and `<source-port>`,
  `<protocol>`, `<icmp-block>`, `<masquerade>`, `<forward>`, `<interface>`), each with
  its span in the text and its first line.

What cannot be read is said (a command's `unread`, user.rules' skipped tuples, a zone
file's ValueError), never dropped: a wrong mutant is worse than none.
"""

from __future__ import annotations

import re
import xml.parsers.expat
from dataclasses import dataclass

ACTIONS = ("allow", "deny", "reject", "limit")
# the words of a ufw command before its action (`insert 2 allow ...`, `route allow ...`)
_PREFIX = {"rule", "prepend", "route"}
_SKIPPED = {"in", "out", "log", "log-all"}  # between the action and the simple form's port


@dataclass(frozen=True)
class Port:
    """A port or a range of a rule: `value` as written (`22`, `8000:8100`), in word
    `word` (of a ufw command's argv, or a field of a tuple) at [start, end)."""

    word: int
    start: int
    end: int
    value: str
    source: bool = False  # a source port (`from ... port N`, a tuple's SPORT)

    @property
    def span(self) -> tuple[int, int]:
        low, _, high = self.value.partition(":")
        return int(low), int(high or low)


@dataclass(frozen=True)
class UfwCommand:
    """A ufw command's action word (its index in argv; None: no rule to turn) and ports;
    `unread`: why some of it is not mutated (a named service's port, an app profile)."""

    argv: tuple[str, ...]
    action: int | None
    ports: tuple[Port, ...] = ()
    unread: str = ""


def _port_words(argv: tuple[str, ...], i: int, source: bool) -> list[Port]:
    """The numbered ports of argv[i] (`22`, `80,443`, `8000:8100`, before any `/proto`)."""
    spec = argv[i].split("/", 1)[0]
    out: list[Port] = []
    at = 0
    for item in spec.split(","):
        if re.fullmatch(r"\d+(?::\d+)?", item):
            out.append(Port(i, at, at + len(item), item, source))
        at += len(item) + 1
    return out


def ufw_command(argv: tuple[str, ...]) -> UfwCommand:
    """Where a ufw command's action and ports are.

    >>> c = ufw_command(("allow", "from", "10.0.0.0/8", "to", "any", "port", "5432"))
    >>> c.action, [p.value for p in c.ports]
    (0, ['5432'])
    >>> ufw_command(("allow", "ssh")).unread
    "no port mutant: its service 'ssh' names no port number"
    """
    words = list(argv)
    i = 0
    if words[:1] == ["default"]:
        return UfwCommand(argv, 1 if len(words) > 1 and words[1] in ("allow", "deny", "reject") else None)
    if words[:1] == ["delete"]:
        return UfwCommand(argv, None, unread="no mutant: a delete removes a rule, it has none of its own")
    while i < len(words) and (words[i] in _PREFIX or (words[i] == "insert" and i + 1 < len(words))):
        i += 2 if words[i] == "insert" else 1
    if i >= len(words) or words[i] not in ACTIONS:
        return UfwCommand(argv, None, unread="no mutant: not a rule (no allow, deny, reject or limit)")
    action = i
    ports: list[Port] = []
    keyworded = any(w in ("from", "to", "proto", "on", "port", "app") for w in words[i + 1 :])
    if keyworded:
        for j in range(i + 1, len(words) - 1):
            if words[j] == "port" and words[j - 1] != "comment":
                side = next((w for w in reversed(words[:j]) if w in ("from", "to")), "to")
                ports.extend(_port_words(argv, j + 1, source=side == "from"))
        named = [words[j + 1] for j in range(i + 1, len(words) - 1) if words[j] == "app"]
        unread = f"no port mutant: its app profile {named[0]!r} gives its ports" if named else ""
        return UfwCommand(argv, action, tuple(ports), unread)
    j = i + 1
    while j < len(words) and words[j] in _SKIPPED:
        j += 1
    if j >= len(words):
        return UfwCommand(argv, action)
    ports = _port_words(argv, j, source=False)
    if ports:
        return UfwCommand(argv, action, tuple(ports))
    return UfwCommand(
        argv, action, (), f"no port mutant: its service {words[j].split('/')[0]!r} names no port number"
    )


# --- user.rules ---------------------------------------------------------------------------------

_TUPLE = re.compile(r"^### tuple ###\s*")


@dataclass(frozen=True)
class UfwBlock:
    """One rule of user.rules: its tuple line (1-based `line`), the tuple's fields (its
    ` comment=` cut off, kept in `comment`) and the 0-based indexes of its `-A` lines."""

    line: int
    fields: tuple[str, ...]
    comment: str
    rules: tuple[int, ...]

    @property
    def app(self) -> bool:
        """A rule of an app profile (9 fields, DAPP or SAPP set): its ports are the profile's."""
        return len(self.fields) == 9 and (self.fields[6] != "-" or self.fields[7] != "-")

    def ports(self) -> list[Port]:
        """Its numbered ports: in the tuple's DPORT (field 2) and SPORT (field 4)."""
        out: list[Port] = []
        for f, source in ((2, False), (4, True)):
            out.extend(_port_words(self.fields, f, source))
        return out


def ufw_blocks(text: str) -> tuple[list[UfwBlock], list[tuple[int, str]]]:
    """user.rules' rule blocks, and (line, why) for each tuple ufw itself would skip (its
    length: `_read_rules` takes 6 to 9 fields)."""
    lines = text.splitlines()
    blocks: list[UfwBlock] = []
    unread: list[tuple[int, str]] = []
    for n, line in enumerate(lines):
        if not _TUPLE.match(line):
            continue
        body, _, comment = line.partition(" comment=")
        fields = tuple(_TUPLE.sub("", body).split())
        if not 6 <= len(fields) <= 9:
            unread.append((n + 1, f"no mutant: {len(fields)} fields, which ufw skips (it reads 6 to 9)"))
            continue
        rules = []
        for m in range(n + 1, len(lines)):
            if not lines[m].startswith("-A "):
                break
            rules.append(m)
        blocks.append(UfwBlock(n + 1, fields, comment, tuple(rules)))
    return blocks, unread


# --- firewalld zones and policies ----------------------------------------------------------------

# what a zone or policy opens, closes or binds, each removable on its own (a policy's
# ingress-zone and egress-zone are not: firewalld refuses a policy without them)
ELEMENTS = (
    "service", "port", "rule", "forward-port", "source",
    "source-port", "protocol", "icmp-block", "masquerade", "forward", "interface",
)  # fmt: skip


@dataclass(frozen=True)
class XmlElement:
    """A rule element of a zone or policy (a child of its root): the text [start, end),
    its first line, and its words (`<port port="8443" protocol="tcp"/>` as written; a
    rich rule in firewalld's rich-rule language)."""

    tag: str
    start: int
    end: int
    line: int
    words: str


def _tag_end(data: bytes, at: int) -> int:
    """Just past the `>` of the tag starting at `at` (a `>` in a quoted value skipped)."""
    quote = 0
    for i in range(at, len(data)):
        c = data[i]
        if quote:
            quote = 0 if c == quote else quote
        elif c in b"\"'":
            quote = c
        elif c == ord(">"):
            return i + 1
    return len(data)


def _rich(node: tuple[str, dict[str, str], list[object]]) -> str:
    """A `<rule>`'s words as firewall-cmd --list-rich-rules shows it: each child its name and
    attributes, its own children after it (`log prefix="x" limit value="1/m"`)."""
    tag, attrs, children = node
    words = [tag, *(f'{k}="{v}"' for k, v in attrs.items())]
    for child in children:
        assert isinstance(child, tuple)
        words.append(_rich(child))
    return " ".join(words)


def zone_elements(text: str) -> list[XmlElement]:
    """The rule elements of a zone or policy file, in file order; raises ValueError (with
    expat's words and line) where the file is not well-formed XML."""
    data = text.encode()
    parser = xml.parsers.expat.ParserCreate()
    out: list[XmlElement] = []
    stack: list[tuple[str, dict[str, str], list[object], int, int]] = []

    def start(tag: str, attrs: dict[str, str]) -> None:
        stack.append((tag, attrs, [], parser.CurrentByteIndex, parser.CurrentLineNumber))

    def end(tag: str) -> None:
        name, attrs, children, at, line = stack.pop()
        node = (name, attrs, children)
        if stack:
            stack[-1][2].append(node)
        if len(stack) != 1 or name not in ELEMENTS:
            return
        # an empty element (`<port .../>`) ends with its start tag; else at its end tag's `>`
        # (expat's index at an empty element's end is not its start: measured, expat 2.5)
        opened = _tag_end(data, at)
        stop = opened if data[:opened].endswith(b"/>") else _tag_end(data, parser.CurrentByteIndex)
        a, b = len(data[:at].decode()), len(data[:stop].decode())
        words = _rich(node) if name == "rule" else " ".join(text[a:b].split())
        out.append(XmlElement(name, a, b, line, words))

    parser.StartElementHandler = start
    parser.EndElementHandler = end
    parser.ordered_attributes = False
    try:
        parser.Parse(data, True)
    except xml.parsers.expat.ExpatError as exc:
        said = xml.parsers.expat.errors.messages[exc.code]
        raise ValueError(f"not well-formed XML (line {exc.lineno}: {said})") from None
    return out
