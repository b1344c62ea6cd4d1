"""The one place nslab parses a firewall manager's own configuration into its rules (pure
text in, positions out; nslab.managers.mutants changes them, nslab.coverage maps hits to them):

- a ufw command of the lab file (`allow 22/tcp`, `deny from 10.0.0.0/8 to any port 5432`,
  `default deny incoming`): where its action word and its port numbers are;
- ufw's user.rules (user6.rules): its rule blocks, as ufw writes them (backend_iptables
  `_write_rules`): a `### tuple ### ACTION PROTO DPORT DST SPORT SRC [DAPP SAPP] DIR`
  line, then the `-A ufw-user-...` lines made from it, up to a blank line; each deciding
  rule's position in its user chain (nslab.coverage.ufw counts it there);
- a firewalld zone or policy file: its rule elements (`<service>`, `<port>`, `<rule>`, a
  rich rule as firewalld stores it, `<forward-port>`, `<source>`, and `<source-port>`,
  `<protocol>`, `<icmp-block>`, `<masquerade>`, `<forward>`, `<interface>`), each with
  its span in the text and its first line.

What cannot be read is said (a command's `unread`, user.rules' skipped tuples, a zone
file's ValueError), never dropped: a wrong mutant is worse than none.
"""

from __future__ import annotations

import re
import shlex
import xml.parsers.expat
from dataclasses import dataclass, field

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

# the user's rules' chains (ufw6-user-input in user6.rules), and their logging
USER_CHAINS = tuple(f"{p}-user-{d}" for p in ("ufw", "ufw6") for d in ("input", "output", "forward"))
LOGGING = tuple(f"{p}-user-logging-{d}" for p in ("ufw", "ufw6") for d in ("input", "output", "forward"))
_TUPLE = re.compile(r"^### tuple ###\s*")


@dataclass(frozen=True)
class UfwBlock:
    """One `### tuple ###` of user.rules: its line (1-based), its words as written (its
    ` comment=` cut off, kept in `comment`), the 0-based indexes of its `-A` lines, and
    where its deciding rules are: (user chain, position in it from 1)."""

    line: int
    text: str
    comment: str
    rules: tuple[int, ...]
    positions: tuple[tuple[str, int], ...] = ()

    @property
    def fields(self) -> tuple[str, ...]:
        return tuple(self.text.split())

    @property
    def malformed(self) -> str:
        """Why ufw skips it (`_read_rules` takes 6 to 9 fields), or ""."""
        n = len(self.fields)
        return "" if 6 <= n <= 9 else f"{n} fields, which ufw skips (it reads 6 to 9)"

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


@dataclass(frozen=True)
class UserRules:
    """A user.rules file: every tuple in file order (a malformed one too), each user chain's
    rules in the file (iptables-restore loads them in that order), and each user chain's
    deciding rule with no tuple above it (line, rule): ufw keeps no map for it."""

    blocks: tuple[UfwBlock, ...]
    lengths: dict[str, int]
    untupled: tuple[tuple[int, str], ...]


def _chain_target(line: str) -> tuple[str, str]:
    """An `-A CHAIN ... -j TARGET` line's chain and target ("": none)."""
    try:
        args = shlex.split(line)
    except ValueError:  # an unclosed quote (a log prefix): chain and target are plain words
        args = line.split()
    chain = args[1] if len(args) > 1 else ""
    return chain, args[args.index("-j") + 1] if "-j" in args[:-1] else ""


def user_rules(text: str) -> UserRules:
    """user.rules as ufw writes it (backend_iptables `_write_rules`): a tuple line, then its
    `-A` lines, up to a blank line (a comment line ends it too). A tuple is read as ufw's
    `_read_rules` reads it: ` comment=` cut off first, then the `### tuple ###` prefix. A
    tuple's deciding rules are its user chains' rules with a verdict or a jump (not ufw's
    logging jumps, nor a `limit` rule's `-m recent --set`, which has no `-j`)."""
    blocks: list[tuple[int, str, str, list[int], list[tuple[str, int]]]] = []
    lengths: dict[str, int] = {}
    untupled: list[tuple[int, str]] = []
    current: tuple[int, str, str, list[int], list[tuple[str, int]]] | None = None
    for n, raw in enumerate(text.splitlines()):
        body, _, comment = raw.partition(" comment=")
        if _TUPLE.match(body):
            current = (n + 1, _TUPLE.sub("", body).strip(), comment.strip(), [], [])
            blocks.append(current)
            continue
        line = raw.strip()
        if not line or line.startswith("#"):
            current = None  # ufw writes a tuple's rules right under it, a blank line after
            continue
        if not line.startswith(("-A ", "-I ")):
            continue
        if current is not None:
            current[3].append(n)
        chain, target = _chain_target(line)
        if chain not in USER_CHAINS and chain not in LOGGING:
            continue
        lengths[chain] = lengths.get(chain, 0) + 1
        if chain not in USER_CHAINS or not target or target in LOGGING:
            continue
        if current is None:
            untupled.append((n + 1, line))
        else:
            current[4].append((chain, lengths[chain]))
    found = tuple(UfwBlock(ln, t, c, tuple(r), tuple(p)) for ln, t, c, r, p in blocks)
    return UserRules(found, lengths, tuple(untupled))


def ufw_blocks(text: str) -> tuple[list[UfwBlock], list[tuple[int, str]]]:
    """user.rules' tuples ufw reads, and (line, why) for each it would skip."""
    found = user_rules(text).blocks
    unread = [(b.line, f"no mutant: {b.malformed}") for b in found if b.malformed]
    return [b for b in found if not b.malformed], unread


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


@dataclass
class Node:
    """An XML element: its attributes, the line it starts on and its text [start, end)
    (what ElementTree does not keep), its child elements in order."""

    tag: str
    attrs: dict[str, str]
    line: int
    children: list[Node] = field(default_factory=list)
    start: int = 0
    end: int = 0

    def find(self, tag: str) -> Node | None:
        return next((c for c in self.children if c.tag == tag), None)


class XmlError(ValueError):
    """A file that is not well-formed XML: `not well-formed XML (line 3: mismatched tag)`;
    `expat`: expat's own words (`mismatched tag: line 3, column 2`)."""

    def __init__(self, said: str, expat: str) -> None:
        super().__init__(said)
        self.expat = expat


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


def parse_xml(text: str) -> Node:
    """A firewalld XML file (zone, policy, service) as a tree of Nodes, its root returned;
    raises XmlError where it is not well-formed XML (expat has a root element otherwise)."""
    data = text.encode()
    parser = xml.parsers.expat.ParserCreate()
    top = Node("", {}, 0)
    stack: list[tuple[Node, int]] = [(top, 0)]  # each open element, its start tag's byte

    def start(tag: str, attrs: dict[str, str]) -> None:
        node = Node(tag, attrs, parser.CurrentLineNumber)
        stack[-1][0].children.append(node)
        stack.append((node, parser.CurrentByteIndex))

    def end(_tag: str) -> None:
        node, at = stack.pop()
        # an empty element (`<port .../>`) ends with its start tag; else at its end tag's `>`
        # (expat's index at an empty element's end is not its start: measured, expat 2.5)
        opened = _tag_end(data, at)
        stop = opened if data[:opened].endswith(b"/>") else _tag_end(data, parser.CurrentByteIndex)
        node.start, node.end = len(data[:at].decode()), len(data[:stop].decode())

    parser.StartElementHandler = start
    parser.EndElementHandler = end
    try:
        parser.Parse(data, True)
    except xml.parsers.expat.ExpatError as exc:
        said = xml.parsers.expat.errors.messages[exc.code]
        raise XmlError(f"not well-formed XML (line {exc.lineno}: {said})", str(exc)) from None
    return top.children[0]


def _rich(node: Node) -> str:
    """A `<rule>`'s words as firewall-cmd --list-rich-rules shows it: each child its name and
    attributes, its own children after it (`log prefix="x" limit value="1/m"`)."""
    words = [node.tag, *(f'{k}="{v}"' for k, v in node.attrs.items())]
    words.extend(_rich(child) for child in node.children)
    return " ".join(words)


def zone_elements(text: str) -> list[XmlElement]:
    """The rule elements of a zone or policy file, in file order; raises XmlError (a
    ValueError, with expat's words and line) where the file is not well-formed XML."""
    out: list[XmlElement] = []
    for e in parse_xml(text).children:
        if e.tag in ELEMENTS:
            words = _rich(e) if e.tag == "rule" else " ".join(text[e.start : e.end].split())
            out.append(XmlElement(e.tag, e.start, e.end, e.line, words))
    return out
