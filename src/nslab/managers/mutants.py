"""Mutants of the firewall managers' rules (pure logic over their files' text, read by
nslab.managers.elements; nslab.coverage.mutate runs them as it runs a ruleset file's):

- a ufw command of the lab file (`firewall = { ufw = [...] }`): its action turned (allow
  <-> deny, reject -> allow, limit -> deny; `default deny incoming` too) and each port it
  names moved to one no other rule of the host names; each mutant is the lab file with
  that one string changed (found by its text and checked by parsing the TOML again: only
  that command differs, or no mutant, said);
- a rule block of ufw's user.rules (user6.rules) in a `ufw = "FOLDER"`: turned in its tuple
  and in its `-A` lines alike (ACCEPT <-> DROP, REJECT -> ACCEPT, a limit's `recent`
  lines gone), or a port moved in the tuple's field and in every line's `--dport(s)`;
- an element of a firewalld zone or policy file (`<service>`, `<port>`, a rich rule,
  `<forward-port>`, `<source>`; `<source-port>`, `<protocol>`, `<icmp-block>`,
  `<masquerade>`, `<forward>`, `<interface>`) removed, one a mutant.

Removed text keeps its newlines, so every other line keeps its number. What cannot be
mutated is an `Unmade` (the report says each), never skipped silently.
"""

from __future__ import annotations

import copy
import json
import os
import re
import shlex
import sys
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

from nslab.firewall.mutants import Mutant
from nslab.lab import Host
from nslab.managers import elements

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

# the opposite of each action: a limit lets through (at a rate), so its opposite is deny
TURNED = {"allow": "deny", "deny": "allow", "reject": "allow", "limit": "deny"}
UFW_FILES = ("user.rules", "user6.rules")
FIREWALLD_DIRS = ("zones", "policies")


@dataclass(frozen=True)
class Unmade:
    """A rule of a manager nslab makes no (or not every) mutant of, and why."""

    name: str  # the file, as the lab file names it
    line: int
    what: str
    why: str

    def words(self) -> str:
        return f"{self.name}:{self.line}: {self.what}: {self.why}"


def _moved(span: tuple[int, int], used: list[tuple[int, int]]) -> tuple[int, int] | None:
    """A port (or range, its width kept) overlapping none of `used`: the nearest above,
    else below (a moved port another rule names would change nothing)."""
    low, high = span
    width = high - low
    for start in [*range(high + 1, 65536 - width), *range(low - width - 1, 0, -1)]:
        if all(start + width < a or start > b for a, b in used):
            return start, start + width
    return None


def _shown(span: tuple[int, int], like: str) -> str:
    return str(span[0]) if ":" not in like else f"{span[0]}:{span[1]}"


# --- ufw commands in the lab file ---------------------------------------------------------------


def _literals(text: str) -> list[re.Match[str]]:
    """Every one-line TOML string of the text (a false one fails the re-parse)."""
    return list(re.finditer(r'"(?:[^"\\\n]|\\.)*"|\'[^\'\n]*\'', text))


def _ufw_list(doc: dict[str, Any], host: str) -> list[Any] | None:
    for entry in doc.get("host", []) if isinstance(doc.get("host"), list) else []:
        if isinstance(entry, dict) and entry.get("name") == host:
            fw = entry.get("firewall")
            if isinstance(fw, dict) and isinstance(fw.get("ufw"), list):
                return fw["ufw"]  # type: ignore[no-any-return]
    return None


def _lab_with(text: str, host: str, k: int, new: str) -> tuple[str, int] | None:
    """The lab file's text with host's ufw command k (0-based) now `new`, and the line of
    the string changed; None where no one string's change gives exactly that."""
    doc = tomllib.loads(text)
    commands = _ufw_list(doc, host)
    if commands is None or k >= len(commands):
        return None
    want = copy.deepcopy(doc)
    listed = _ufw_list(want, host)
    assert listed is not None
    listed[k] = new
    for m in _literals(text):
        try:
            if tomllib.loads(f"x = {m[0]}")["x"] != commands[k]:
                continue
            changed = text[: m.start()] + json.dumps(new) + text[m.end() :]
            if tomllib.loads(changed) == want:
                return changed, text.count("\n", 0, m.start()) + 1
        except tomllib.TOMLDecodeError:
            continue
    return None


def command_lines(text: str, host: str) -> list[int | None]:
    """Each of the host's ufw commands' line in the lab file's text: that of the one string
    whose change changes that command alone (None: not found, written over lines?). Not
    the first string of its words: another host's, or a comment's, may come before it."""
    commands = _ufw_list(tomllib.loads(text), host) or []
    return [at[1] if (at := _lab_with(text, host, k, _PROBE)) else None for k in range(len(commands))]


_PROBE = "nslab: a value no command has"


def command_mutants(lab_path: Path, name: str, host: Host) -> tuple[list[Mutant], list[Unmade]]:
    assert host.manager is not None
    text = lab_path.read_text()
    commands = [elements.ufw_command(argv) for argv in host.manager.commands]
    used = [p.span for c in commands for p in c.ports]
    out: list[Mutant] = []
    unmade: list[Unmade] = []
    lines = command_lines(text, host.name)
    for k, c in enumerate(commands):
        was = shlex.join(c.argv)
        what = f"host {host.name} ufw command {k + 1} `{was}`"
        line = (lines[k] if k < len(lines) else None) or 0  # 0: its string is not found
        variants: list[tuple[list[str], str]] = []
        if c.action is not None:
            argv = list(c.argv)
            argv[c.action] = TURNED.get(argv[c.action], "allow")
            variants.append((argv, ""))
        for p in c.ports:
            to = _moved(p.span, [u for u in used if u != p.span])
            if to is None:
                unmade.append(
                    Unmade(name, line, what, f"no mutant of port {p.value}: no free port to move it to")
                )
                continue
            argv = list(c.argv)
            word = argv[p.word]
            argv[p.word] = word[: p.start] + _shown(to, p.value) + word[p.end :]
            said = _shown(to, p.value)
            variants.append(
                (argv, f" (port {p.value} moved to {said}, which no other rule of {host.name} names)")
            )
        for argv, why in variants:
            now = shlex.join(argv)
            found = _lab_with(text, host.name, k, now)
            if found is None:
                unmade.append(
                    Unmade(
                        name,
                        line,
                        what,
                        f"no mutant: its string was not found in {name} (written over lines?)",
                    )
                )
                break
            mutated = found[0]
            out.append(
                Mutant(lab_path, name, found[1], f"{what} -> `{now}`{why}", mutated, 0, "", host.name, "ufw")
            )
        if c.unread:
            unmade.append(Unmade(name, line, what, c.unread))
    return out, unmade


# --- ufw's user.rules ----------------------------------------------------------------------------

_TARGET = re.compile(r"-j (ACCEPT|DROP|REJECT(?: --reject-with \S+)?)\b")
_PREFIXES = {"allow": "[UFW ALLOW]", "deny": "[UFW BLOCK]"}


def _turn_rule(line: str, old: str, new: str) -> str:
    """One `-A` line of a block whose action turns from `old` to `new` (as ufw writes `new`)."""
    if old == "limit":  # its `recent` counting goes; the accept after it turns
        if " -m recent " in line:
            return ""
        line = re.sub(r"-j (ufw6?)-user-limit-accept\b", "-j DROP", line)
    line = _TARGET.sub("-j DROP" if new == "deny" else "-j ACCEPT", line)
    return re.sub(r"\[UFW (ALLOW|BLOCK|LIMIT)\]", _PREFIXES[new], line)


def _tuple_line(block: elements.UfwBlock, fields: list[str]) -> str:
    return "### tuple ### " + " ".join(fields) + (f" comment={block.comment}" if block.comment else "")


def _block_mutants(
    path: Path, name: str, host: str, text: str, block: elements.UfwBlock, used: list[tuple[int, int]]
) -> tuple[list[Mutant], list[Unmade]]:
    lines = text.splitlines(keepends=True)
    shown = " ".join(block.fields)
    what = f"rule `{shown}`"
    out: list[Mutant] = []
    unmade: list[Unmade] = []

    def mutant(changes: dict[int, str], mutation: str) -> Mutant:
        new = list(lines)
        for i, s in changes.items():
            new[i] = s + ("\n" if lines[i].endswith("\n") else "")
        # rule: the tuple's line, where rule coverage names a user.rules rule, so its hits
        # (where coverage counted them) say why a mutant survived, as for a ruleset file's
        return Mutant(path, name, block.line, mutation, "".join(new), block.line, "", host, "ufw")

    action = block.fields[0]
    route, _, rest = action.rpartition(":")
    base, _, log = rest.partition("_")
    if base not in TURNED:
        unmade.append(Unmade(name, block.line, what, f"not turned: its action {base!r} is none of ufw's"))
    else:
        new = TURNED[base]
        changes = {i: _turn_rule(lines[i].rstrip("\n"), base, new) for i in block.rules}
        changes = {i: s for i, s in changes.items() if s != lines[i].rstrip("\n")}
        if not changes:
            unmade.append(
                Unmade(
                    name, block.line, what, "not turned: none of its -A lines ends in ACCEPT, DROP or REJECT"
                )
            )
        else:
            fields = list(block.fields)
            fields[0] = (f"{route}:" if route else "") + new + (f"_{log}" if log else "")
            changes[block.line - 1] = _tuple_line(block, fields)
            out.append(mutant(changes, f"{what}: {base} -> {new}"))
    if block.app and block.ports():
        unmade.append(
            Unmade(
                name, block.line, what, "no port mutant: an app profile's rule, its ports are the profile's"
            )
        )
        return out, unmade
    for p in block.ports():
        to = _moved(p.span, [u for u in used if u != p.span])
        if to is None:
            unmade.append(
                Unmade(name, block.line, what, f"no mutant of port {p.value}: no free port to move it to")
            )
            continue
        said = _shown(to, p.value)
        fields = list(block.fields)
        fields[p.word] = fields[p.word][: p.start] + said + fields[p.word][p.end :]
        changes = {block.line - 1: _tuple_line(block, fields)}
        flag = re.compile(r"(--%sports?) (\S+)" % ("s" if p.source else "d"))
        for i in block.rules:
            now = flag.sub(partial(_swapped, was=p.value, now=said), lines[i].rstrip("\n"))
            if flag.search(lines[i]) and now != lines[i].rstrip("\n"):
                changes[i] = now
        if len(changes) == 1:
            unmade.append(
                Unmade(name, block.line, what, f"no mutant of port {p.value}: it is in none of its -A lines")
            )
            continue
        out.append(
            mutant(changes, f"{what}: port {p.value} -> {said} (a port no other rule of {host} names)")
        )
    return out, unmade


def _swapped(m: re.Match[str], was: str, now: str) -> str:
    """A `--dport(s) LIST` with the item `was` now `now`."""
    return f"{m[1]} {','.join(now if x == was else x for x in m[2].split(','))}"


def rules_mutants(folder: Path, lab_dir: Path, host: str) -> tuple[list[Mutant], list[Unmade]]:
    texts = {folder / f: (folder / f).read_text() for f in UFW_FILES if (folder / f).is_file()}
    read = {f: elements.ufw_blocks(text) for f, text in texts.items()}
    used = [p.span for blocks, _ in read.values() for b in blocks for p in b.ports()]
    out: list[Mutant] = []
    unmade: list[Unmade] = []
    for f, (blocks, unread) in read.items():
        name = os.path.relpath(f, lab_dir)
        text = texts[f]
        unmade.extend(Unmade(name, line, "a tuple", why) for line, why in unread)
        for b in blocks:
            m, u = _block_mutants(f, name, host, text, b, used)
            out.extend(m)
            unmade.extend(u)
    return out, unmade


# --- firewalld zones and policies -----------------------------------------------------------------


def zone_mutants(folder: Path, lab_dir: Path, host: str) -> tuple[list[Mutant], list[Unmade]]:
    out: list[Mutant] = []
    unmade: list[Unmade] = []
    for sub in FIREWALLD_DIRS:
        for f in sorted((folder / sub).glob("*.xml")) if (folder / sub).is_dir() else []:
            name = os.path.relpath(f, lab_dir)
            text = f.read_text()
            try:
                found = elements.zone_elements(text)
            except ValueError as exc:
                unmade.append(
                    Unmade(name, 0, "its elements", f"no mutant: {exc}, which firewalld refuses too")
                )
                continue
            for e in found:
                kept = "\n" * text.count("\n", e.start, e.end)
                said = f'rich rule "{e.words}"' if e.tag == "rule" else e.words
                mutated = text[: e.start] + kept + text[e.end :]
                out.append(  # rule: its line, where coverage names a zone's element
                    Mutant(f, name, e.line, f"{said} removed", mutated, e.line, e.words, host, "firewalld")
                )
    return out, unmade
