"""Rule coverage of a ufw host: its rules' hits mapped back to what the user wrote.

ufw keeps the map itself: each rule of its user chains (`ufw-user-input`, `-output`,
`-forward`) is written in /etc/ufw/user.rules (user6.rules: IPv6) under a comment naming
the ufw rule it came from, `### tuple ### allow tcp 22 0.0.0.0/0 any 0.0.0.0/0 in`, and
ufw loads that file with iptables-restore, so a user chain's rules in the kernel are the
file's `-A` lines of that chain, in order. A reading of the host is its counters
(`iptables-save -c`, `ip6tables-save -c`) and the world's copy of user.rules and
user6.rules, read together, so a rule a scenario adds (`ufw allow 80/tcp`) moves no hit
to another tuple. A tuple's hits are the packets of its rules that decide (their `-j`,
not ufw's logging jumps, nor a `limit` rule's `-m recent --set`, which sees every packet
its verdict rules see).

What the user wrote, per form of the lab file:
- `firewall = { ufw = [...] }`: each command of the list that makes a rule, at its line
  of the lab file; ufw's own parser (in the world, as `ufw` runs it) gives the command's
  tuple, so `allow 22/tcp` is the tuples `allow tcp 22 ... in` of user.rules and user6.rules.
  `default deny|allow incoming|outgoing|routed` is the policy of INPUT, OUTPUT, FORWARD.
- `{ ufw = "FOLDER" }`: each tuple of the folder's user.rules, user6.rules, at its line.
The rest (before.rules, after.rules, logging, the built-in chains' policies no command
set) is ufw's own, reported per chain, never in the user's percentage. Where nslab cannot
map (a rule with no tuple, a command no tuple matches) it says so: hits unknown."""

from __future__ import annotations

import json
import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path

from nslab import firewall as firewalls
from nslab.coverage.files import FileCoverage, RuleHits
from nslab.firewall import iptables
from nslab.lab import Host, Lab
from nslab.machine.world import World
from nslab.managers import check
from nslab.managers.common import host_argv
from nslab.parse import NSLAB_OWN, Ruleset

# the user's rules' chains (ufw6-user-input in user6.rules), and their logging
MAIN = tuple(f"{p}-user-{d}" for p in ("ufw", "ufw6") for d in ("input", "output", "forward"))
LOGGING = tuple(f"{p}-user-logging-{d}" for p in ("ufw", "ufw6") for d in ("input", "output", "forward"))
FILES = (("filter", "user.rules"), ("ip6 filter", "user6.rules"))
_TUPLE = re.compile(r"^### tuple ###\s*(.*?)(?:\s+comment=\S*)?\s*$")
_SPLIT = "@@nslab-ufw-file\n"
_ANY = {"0.0.0.0/0", "::/0", "any"}
_POLICY = {"incoming": "INPUT", "outgoing": "OUTPUT", "routed": "FORWARD"}

# ufw's parser, in the world: each command's rule as the tuple ufw writes for it (fields of
# backend_iptables' `### tuple ###` line), or its default, or null (no rule: `logging on`)
PARSE = r"""
import contextlib, gettext, io, json, sys
import ufw.common, ufw.frontend
gettext.install(ufw.common.programName)
out = []
for argv in json.loads(sys.argv[1]):
    try:
        with contextlib.redirect_stderr(io.StringIO()), contextlib.redirect_stdout(io.StringIO()):
            pr = ufw.frontend.parse_command(["ufw", *argv])
    except BaseException:
        out.append(None)
        continue
    r = pr.data.get("rule")
    if pr.action.startswith("default-"):
        out.append({"default": pr.action.split("-")[1:]})
    elif r is None or pr.action not in ("allow", "deny", "reject", "limit"):
        out.append(None)
    else:
        action = ("route:" if r.forward else "") + r.action + ("_" + r.logtype if r.logtype else "")
        if r.interface_in and r.interface_out:
            ifaces = "in_%s!out_%s" % (r.interface_in, r.interface_out)
        elif r.interface_in or r.interface_out:
            ifaces = "%s_%s" % (r.direction, r.interface_in or r.interface_out)
        else:
            ifaces = r.direction
        out.append({"tuple": [action, r.protocol, r.dport, r.dst, r.sport, r.src,
                              r.dapp.replace(" ", "%20") or "-", r.sapp.replace(" ", "%20") or "-", ifaces]})
print(json.dumps(out))
"""


def tuple_key(fields: list[str]) -> tuple[str, ...]:
    """What identifies a ufw rule across its two files: any address (0.0.0.0/0, ::/0) as
    one; an application's rule by its name (its ports are the profile's)."""
    action, proto, dport, dst, sport, src = fields[:6]
    dapp, sapp, ifaces = (
        fields[6:9] if len(fields) >= 9 else ("-", "-", fields[6] if len(fields) > 6 else "in")
    )
    where = ("any" if dst in _ANY else dst, "any" if src in _ANY else src, ifaces)
    if dapp != "-" or sapp != "-":
        return (action, "app", dapp, sapp, *where)
    return (action, proto, dport, sport, *where)


@dataclass
class Tuple:
    """One `### tuple ###` of a user rules file, and where its deciding rules are."""

    table: str  # filter, ip6 filter
    text: str  # `allow tcp 22 0.0.0.0/0 any 0.0.0.0/0 in`
    line: int
    rules: list[tuple[str, int]] = field(default_factory=list)  # (chain, position from 1)

    @property
    def key(self) -> tuple[str, ...]:
        return tuple_key(self.text.split())


@dataclass
class UserRules:
    tuples: list[Tuple]
    lengths: dict[str, int]  # each user chain's rules in the file
    untupled: list[tuple[int, str]]  # (line, rule) of a user chain's rule with no tuple


def user_rules(text: str, table: str) -> UserRules:
    """A user.rules file's tuples, each with its rules' positions in the user chains."""
    out = UserRules([], {}, [])
    current: Tuple | None = None
    for n, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        found = _TUPLE.match(line)
        if found:
            current = Tuple(table, found[1], n)
            out.tuples.append(current)
            continue
        if not line or line.startswith("#"):
            current = None  # ufw writes a tuple's rules right under it, a blank line after
            continue
        if not line.startswith(("-A ", "-I ")):
            continue
        args = shlex.split(line)
        chain = args[1] if len(args) > 1 else ""
        if chain not in MAIN and chain not in LOGGING:
            continue
        out.lengths[chain] = out.lengths.get(chain, 0) + 1
        target = args[args.index("-j") + 1] if "-j" in args[:-1] else ""
        if chain not in MAIN or not target or target in LOGGING:
            continue
        if current is None:
            out.untupled.append((n, line))
        else:
            current.rules.append((chain, out.lengths[chain]))
    return out


def command_lines(lab_text: str, host: str, commands: list[tuple[str, ...]]) -> list[int | None]:
    """Each ufw command's line in the lab file: the quoted strings (TOML's basic or literal)
    after the host's `name = "HOST"`, in order, as the lab file's reader split them (None:
    not found)."""
    lines = lab_text.splitlines()
    named = re.compile(rf"""\s*name\s*=\s*(["']){re.escape(host)}\1""")
    start = next((i for i, ln in enumerate(lines) if named.match(ln)), len(lines))
    quoted: list[tuple[int, tuple[str, ...]]] = []  # (line, its words), in order
    for n in range(start, len(lines)):
        if lines[n].lstrip().startswith("#"):
            continue  # a comment's example is not a command
        for basic, literal in re.findall(r""""((?:[^"\\]|\\.)*)"|'([^']*)'""", lines[n]):
            s = basic or literal
            try:
                words = shlex.split(s)
            except ValueError:
                continue
            quoted.append((n + 1, tuple(words[1:] if words[:1] == ["ufw"] else words)))
    out: list[int | None] = []
    at = 0
    for argv in commands:
        found = next((i for i in range(at, len(quoted)) if quoted[i][1] == tuple(argv)), None)
        out.append(None if found is None else quoted[found][0])
        at = at if found is None else found + 1
    return out


Reading = dict[tuple[str, ...], int | None]  # ("tuple", table, text) / ("policy", ...) / ("own", ...)


@dataclass
class UfwPlace:
    """One ufw host in the current world: what the user wrote, its readings, its hits."""

    host: Host
    lab: Lab
    files: list[FileCoverage]  # the user's (the lab file's list, or the folder's files), then ufw's own
    wants: list[list[list[tuple[str, ...]]]]  # per file, per rule: the reading keys it sums
    notes: dict[tuple[int, int], str] = field(default_factory=dict)  # (file, rule) -> why not counted
    originals: dict[str, str] = field(default_factory=dict)  # table -> the folder's user rules file
    before: Reading = field(default_factory=dict)
    hits: dict[tuple[str, ...], int | None] = field(default_factory=dict)
    explored: bool = False

    def read(self, world: World) -> Reading:
        """The host's counters, keyed by what made each rule (one reading of both)."""
        cat = 'cat /etc/ufw/user.rules; printf "$1"; cat /etc/ufw/user6.rules'
        files = world.run(host_argv(self.lab, self.host, ["sh", "-c", cat, "nslab", _SPLIT])).stdout
        tool = self.host.manager.tool if self.host.manager else "iptables"
        snap = firewalls.V6_MARK.join(
            world.run(list(a), ns=self.host.name).stdout for a in firewalls.get(tool).snapshot
        )
        return reading(firewalls.parse_snapshot(tool, snap), files.split(_SPLIT), self.originals)

    def fold(self, world: World) -> None:
        now = self.read(world)
        for key, packets in now.items():
            then, mine = self.before.get(key), self.hits.get(key, 0)
            if key not in self.before:
                continue  # a rule the scenario added: none of the user's
            if packets is None or then is None or mine is None:
                self.hits[key] = None
            else:
                self.hits[key] = mine + max(0, packets - then)
        self.before = now

    def resume(self, world: World) -> None:
        now = self.read(world)
        self.explored = self.explored or any(now.get(k) != v for k, v in self.before.items())
        self.before = now

    def end(self, scenario: str) -> list[FileCoverage]:
        for f, (cov, wants) in enumerate(zip(self.files, self.wants, strict=True)):
            for r, (rule, keys) in enumerate(zip(cov.rules, wants, strict=True)):
                got = [self.hits.get(k) for k in keys]
                known = [g for g in got if g is not None]
                rule.hits = None if (f, r) in self.notes or not keys or len(known) < len(got) else sum(known)
            held = [k[2] for k in self.before if k[0] == "mismatch"]
            if held and not cov.own:  # its tuples' rules cannot be told apart: say why
                cov.note = "; ".join(n for n in dict.fromkeys([*cov.note.split("; "), *held]) if n)
            if any(r.hits for r in cov.rules):
                cov.scenarios.add(scenario)
            if self.explored:
                cov.explored.add(scenario)
        return self.files


def _held(rs: Ruleset, table: str, user: UserRules) -> list[str]:
    """The user chains the kernel holds otherwise than the file gives them (how many)."""
    out = []
    for name, n in user.lengths.items():
        chain = rs.chain(name, table)
        if chain is None or len(chain.rules) != n:
            got = len(chain.rules) if chain else 0
            out.append(f"chain {name} holds {got} rules where {dict(FILES)[table]} gives {n}")
    return out


def reading(rs: Ruleset, files: list[str], originals: dict[str, str] | None = None) -> Reading:
    """Packets by tuple (its deciding rules' sum), by built-in chain's policy, and by ufw's
    own rule (table, chain, position, rule). The user chains are read with the world's
    user.rules, else with the user's own file where the kernel holds that one (ufw drops
    a rule with no tuple when it rewrites the file, not from the kernel); a chain held
    otherwise than either gives it: its tuples unknown (None), and why."""
    out: Reading = {}
    mapped: set[tuple[str, str]] = set()
    for (table, _), text in zip(FILES, files, strict=False):
        user = user_rules(text, table)
        mine = (originals or {}).get(table)
        if (
            _held(rs, table, user)
            and mine is not None
            and not _held(rs, table, theirs := user_rules(mine, table))
        ):
            user = theirs
        for why in _held(rs, table, user):
            out[("mismatch", table, why)] = None
        for t in user.tuples:
            key = ("tuple", table, t.text)
            total: int | None = out.get(key, 0) if t.rules else None
            for name, position in t.rules:
                chain = rs.chain(name, table)
                held = chain is not None and len(chain.rules) == user.lengths.get(name)
                packets = chain.rules[position - 1].packets if chain is not None and held else None
                total = None if total is None or packets is None else total + packets
            out[key] = total
        mapped |= {(table, c) for c in (*MAIN, *LOGGING)}
    for table in ("filter", "ip6 filter"):
        for name in rs.chain_names(table):
            chain = rs.chain(name, table)
            assert chain is not None
            if chain.policy is not None:
                out[("policy", table, name)] = chain.packets
            if (table, name) in mapped:
                continue
            for n, rule in enumerate(chain.rules, 1):
                out[("own", table, name, str(n), rule.spec)] = rule.packets
    return out


def parse_commands(world: World, commands: list[tuple[str, ...]]) -> list[dict[str, list[str]] | None]:
    """ufw's parser's answer for each command (see PARSE), run in the world."""
    python = check.interpreter() or "python3"
    r = world.run([python, "-c", PARSE, json.dumps([list(c) for c in commands])])
    try:
        said = json.loads(r.stdout)
    except ValueError:
        said = None
    return said if isinstance(said, list) and len(said) == len(commands) else [None] * len(commands)


def place(
    world: World,
    lab: Lab,
    host: Host,
    lab_path: Path | None,
    lab_name: str,
    folder: Path,
    parsed: list[dict[str, list[str]] | None],
) -> UfwPlace:
    """A ufw host as the lab file wrote it, its rules read once now (after the build)."""
    assert host.manager is not None
    up = UfwPlace(host, lab, [], [])
    laid = host.manager.folder
    for table, name in FILES if laid is not None else ():
        if laid is not None and (laid / name).is_file():
            up.originals[table] = (laid / name).read_text(errors="replace")
    # the kernel's IPv6 housekeeping (router solicitations, MLD: sent from a link-local
    # address in a lab without IPv6 too; measured, OUTPUT's rules in ip6 filter matched
    # them) counted apart, as for an ip6tables file (nslab.firewall.instrument)
    iptables.count_nd(world, host.name, {"ip6 filter"}, lab.backend)
    count_marks(world, host.name, lab.backend)
    first = up.read(world)
    tuples = [k for k in first if k[0] == "tuple"]
    claimed: set[tuple[str, ...]] = set()

    def cov(file: str, path: Path | None, rules: list[RuleHits], *, own: bool = False) -> FileCoverage:
        return FileCoverage(
            file, host.name, lab_name, rules, kind="ufw", path=str(path.resolve()) if path else "",
            manager="ufw", own=own,
        )  # fmt: skip

    if host.manager.commands:
        commands = list(host.manager.commands)
        text = lab_path.read_text(errors="replace") if lab_path else ""
        lines = command_lines(text, host.name, commands)
        rules: list[RuleHits] = []
        wants: list[list[tuple[str, ...]]] = []
        for argv, line, said in zip(commands, lines, parsed, strict=True):
            words = shlex.join(argv)
            if said is None:
                continue  # no rule of its own (`logging on`): nothing to cover
            if "default" in said:
                policy, chain = said["default"][0], _POLICY.get(said["default"][-1], "")
                keys = [k for k in first if k[0] == "policy" and k[2] == chain] if policy != "reject" else []
                why = (
                    "" if keys else "ufw's reject default is rules of its own: nslab does not tell them apart"
                )
            else:
                keys = [k for k in tuples if tuple_key(k[2].split()) == tuple_key(said["tuple"])]
                why = "" if keys else "no `### tuple ###` of ufw's user rules matches it"
            if why:
                up.notes[(0, len(rules))] = why
            claimed |= set(keys)
            rules.append(RuleHits(line, words, 0))
            wants.append(keys)
        up.files.append(cov(_relative(lab_path, folder) if lab_path else lab.name, lab_path, rules))
        up.wants.append(wants)
    if host.manager.folder is not None:
        for table, name in FILES:
            path = host.manager.folder / name
            if table not in up.originals:
                continue
            user = user_rules(up.originals[table], table)
            rules = [RuleHits(t.line, t.text, 0) for t in user.tuples]
            wants = [[("tuple", table, t.text)] for t in user.tuples]
            claimed |= {k for w in wants for k in w}
            for line, rule in user.untupled:
                up.notes[(len(up.files), len(rules))] = "no `### tuple ###` above it: ufw keeps no map for it"
                rules.append(RuleHits(line, rule, None))
                wants.append([])
            up.files.append(cov(_relative(path, folder), path, rules))
            up.wants.append(wants)
    own = [k for k in first if k[0] in ("own", "policy") and k not in claimed and first[k] is not None]
    up.files.append(cov("ufw", None, [RuleHits(None, own_words(k), 0) for k in own], own=True))
    up.wants.append([[k] for k in own])
    for f, c in enumerate(up.files):
        named = [
            f"{c.rules[r].where()} not counted: {why}" for (ff, r), why in sorted(up.notes.items()) if ff == f
        ]
        c.note = "; ".join(named)
    up.before = first
    return up


MARK_COMMENT = NSLAB_OWN + "mark"  # counts nslab's tracer marks the rule after it would match
_LOOPBACK = ["-s", "127.0.0.0/8", "-d", "127.0.0.0/8"]


def marks_instrument(save: str) -> str | None:
    """The iptables-restore text (from `iptables-save -c`) with a counting rule of nslab's
    (no target, `--comment nslab-mark`) before each filter rule the nftables tracer's
    marks could match: its loopback pings (nslab.probe.trace, 127.0.x.y), sent in every
    traced place, are nslab's own traffic (measured: 30 packets a scenario on a ufw host
    beside a firewalld host, all on ufw's `-i lo -j ACCEPT`); None where none is needed.
    As for ND: the counting rule has the rule's own matches, so it counts what the rule
    would, and nslab.parse takes it from the rule's count."""
    out: list[str] = []
    table, added = "", False
    for line in save.splitlines():
        if line.startswith("*"):
            table = line[1:].strip()
        counted = re.match(r"^(\[\d+:\d+\] )?-A (\S+) (.*)$", line)
        if counted and table == "filter" and NSLAB_OWN not in line:
            args = shlex.split(counted[3])
            matches = args[: next((i for i, a in enumerate(args) if a in ("-j", "-g")), len(args))]
            proto = matches[matches.index("-p") + 1] if "-p" in matches else None
            if proto in (None, "icmp", "1") and not {"!", "-s", "-d"} & set(matches):
                base = matches if proto else ["-p", "icmp", *matches]
                shadow = [*base, *_LOOPBACK, "-m", "comment", "--comment", MARK_COMMENT]
                out.append(f"[0:0] -A {counted[2]} {shlex.join(shadow)}")
                added = True
        out.append(line)
    return "\n".join(out) + "\n" if added else None


def count_marks(world: World, ns: str, backend: str) -> bool:
    """nslab's mark counting rules in the place's IPv4 filter table, in one atomic restore
    (counters kept): False where they did not load (the marks are then counted)."""
    legacy = backend == "legacy"
    save = world.run(["iptables-legacy-save" if legacy else "iptables-save", "-c"], ns=ns).stdout
    text = marks_instrument(save)
    if text is None:
        return True
    restore = ["iptables-legacy-restore" if legacy else "iptables-restore", iptables.WAIT, "-c"]
    return world.run(restore, ns=ns, stdin=text).rc == 0


def own_words(key: tuple[str, ...]) -> str:
    """`ufw-before-input rule 3: -p icmp ...`, `INPUT policy` (`in table ip6 filter` for IPv6)."""
    where = "" if key[1] == "filter" else f" in table {key[1]}"
    return f"{key[2]} policy{where}" if key[0] == "policy" else f"{key[2]} rule {key[3]}{where}: {key[4]}"


def _relative(path: Path, to: Path) -> str:
    try:
        return str(path.resolve().relative_to(to.resolve()))
    except ValueError:
        return str(path)
