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
  A folder's own before.rules, after.rules: each rule at its line (nslab.coverage.ufw_files).
The rest (the package's before.rules, after.rules, logging, the built-in chains' policies
no command set) is ufw's own, reported per chain, never in the user's percentage. Where nslab cannot
map (a rule with no tuple, a command no tuple matches) it says so: hits unknown."""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field
from pathlib import Path

from nslab import firewall as firewalls
from nslab.coverage import ufw_files
from nslab.coverage.files import FileCoverage, RuleHits, relative_name
from nslab.coverage.managed import Parsed, Quiet
from nslab.coverage.marks import MARK_COMMENT, count_marks, count_v6, policy_nd_packets
from nslab.lab import Host, Lab
from nslab.machine.world import World
from nslab.managers import check, elements, mutants
from nslab.managers.common import host_argv
from nslab.parse import Ruleset

# the user's rules' chains (ufw6-user-input in user6.rules), and their logging
MAIN, LOGGING = elements.USER_CHAINS, elements.LOGGING
FILES = (("filter", "user.rules"), ("ip6 filter", "user6.rules"))
_SPLIT = "@@nslab-ufw-file\n"
# the world's copy of ufw's user rules, then each family's counters, `_SPLIT` between
_READ = (
    'sep=$1; shift; cat /etc/ufw/user.rules; printf "$sep"; cat /etc/ufw/user6.rules; '
    'for save in "$@"; do printf "$sep"; "$save" -c; done'
)
_ANY = {"0.0.0.0/0", "::/0", "any"}
_POLICY = {"incoming": "INPUT", "outgoing": "OUTPUT", "routed": "FORWARD"}


def tuple_key(fields: list[str]) -> tuple[str, ...]:
    """What identifies a ufw rule across its two files: any address (0.0.0.0/0, ::/0) as
    one; an application's rule by its name (its ports are the profile's). A malformed
    tuple (ufw skips it, warning) is its words: it matches no command."""
    if len(fields) < 6:
        return ("malformed", *fields)
    action, proto, dport, dst, sport, src = fields[:6]
    dapp, sapp, ifaces = (
        fields[6:9] if len(fields) >= 9 else ("-", "-", fields[6] if len(fields) > 6 else "in")
    )
    where = ("any" if dst in _ANY else dst, "any" if src in _ANY else src, ifaces)
    if dapp != "-" or sapp != "-":
        return (action, "app", dapp, sapp, *where)
    return (action, proto, dport, sport, *where)


MARKS = ("marks",)  # a reading's count of nslab's mark counting rules (ufw's reload drops them)
RELOADED = (
    "ufw reloaded its rules in a scenario (ufw reload, enable): a rule matched only before the "
    "reload has hits unknown"
)
Reading = dict[tuple[str, ...], int | None]  # ("tuple", table, text) / ("policy", ...) / ("own", ...)


@dataclass
class UfwPlace(Quiet):  # its rules count: no trace is read
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
    reloaded: bool = False  # ufw restored its chains in the scenario (fold)
    unsure: set[tuple[str, ...]] = field(default_factory=set)  # no packets since a reload: unknown

    def read(self, world: World) -> Reading:
        """The host's counters, keyed by what made each rule: the files and the counters in
        one command in the host's namespaces (one process where three were: it runs at least
        twice a scenario)."""
        tool = self.host.manager.tool if self.host.manager else "iptables"
        saves = [list(a) for a in firewalls.get(tool).snapshot]  # [["iptables-save", "-c"], ...]
        assert all(a[1:] == ["-c"] for a in saves), saves
        argv = ["sh", "-c", _READ, "nslab", _SPLIT, *(a[0] for a in saves)]
        parts = world.run(host_argv(self.lab, self.host, argv)).stdout.split(_SPLIT)
        files, snap = parts[:2], firewalls.V6_MARK.join(parts[2:])
        found = reading(firewalls.parse_snapshot(tool, snap), files, self.originals)
        found[MARKS] = snap.count(MARK_COMMENT)  # nslab's counting rules still there
        v6 = snap.partition(firewalls.V6_MARK)[2]
        for chain, packets in policy_nd_packets(v6).items():  # housekeeping is not the scenario's
            got = found.get(("policy", "ip6 filter", chain))
            if got is not None:
                found[("policy", "ip6 filter", chain)] = max(0, got - packets)
        return found

    def fold(self, world: World) -> None:
        now = self.read(world)
        # `ufw reload` (disable, enable) restores ufw's chains: counters restart from 0 and
        # nslab's counting rules are gone (measured: `ufw allow` keeps both). A rule's
        # packets since are then its count; those between the last reading and the reload
        # are lost, so a rule with none since is unknown, not "never matched"
        reloaded = (now.get(MARKS) or 0) < (self.before.get(MARKS) or 0)
        for key, packets in now.items():
            then, mine = self.before.get(key), self.hits.get(key, 0)
            if key not in self.before or key == MARKS:
                continue  # a rule the scenario added: none of the user's
            if packets is None or then is None or mine is None:
                self.hits[key] = None
            elif reloaded and (key[0] != "own" or key[2].startswith("ufw")):
                # ufw's chains and the policies restarted (the built-in chains' own jumps
                # to them kept their counters: measured, `-A INPUT -j ufw-after-input`)
                self.hits[key] = mine + packets
                if not self.hits[key]:
                    self.unsure.add(key)
            else:
                self.hits[key] = mine + max(0, packets - then)
        if reloaded:
            self.reloaded = True
            instrument(world, self.host.name, self.lab.backend)
            now = self.read(world)
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
                unsure = not sum(known) and any(k in self.unsure for k in keys)  # 0 since a reload
                unknown = (f, r) in self.notes or not keys or len(known) < len(got) or unsure
                rule.hits = None if unknown else sum(known)
            held = [k[2] for k in self.before if k[0] == "mismatch"] + ([RELOADED] if self.reloaded else [])
            if held and not cov.own:  # its tuples' rules cannot be told apart: say why
                cov.note = "; ".join(n for n in dict.fromkeys([*cov.note.split("; "), *held]) if n)
            if any(r.hits for r in cov.rules):
                cov.scenarios.add(scenario)
            if self.explored:
                cov.explored.add(scenario)
        return self.files


def _held(rs: Ruleset, table: str, user: elements.UserRules) -> list[str]:
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
        user = elements.user_rules(text)
        mine = (originals or {}).get(table)
        if (
            _held(rs, table, user)
            and mine is not None
            and not _held(rs, table, theirs := elements.user_rules(mine))
        ):
            user = theirs
        for why in _held(rs, table, user):
            out[("mismatch", table, why)] = None
        for t in user.blocks:
            key = ("tuple", table, t.text)
            total: int | None = out.get(key, 0) if t.positions else None
            for name, position in t.positions:
                chain = rs.chain(name, table)
                held = chain is not None and len(chain.rules) == user.lengths.get(name)
                packets = chain.rules[position - 1].packets if chain is not None and held else None
                total = None if total is None or packets is None else total + packets
            out[key] = total
        mapped |= {(table, c) for c in (*MAIN, *LOGGING)}
    for table in rs.tables:  # a folder's before.rules may fill nat's too
        for name in rs.chain_names(table):
            chain = rs.chain(name, table)
            assert chain is not None
            if chain.policy is not None and table in ("filter", "ip6 filter"):
                out[("policy", table, name)] = chain.packets
            if (table, name) in mapped:
                continue
            for n, rule in enumerate(chain.rules, 1):
                out[("own", table, name, str(n), rule.spec)] = rule.packets
    return out


def parse_commands(world: World, commands: list[tuple[str, ...]]) -> list[dict[str, list[str]] | None]:
    """ufw's parser's rule for each command (nslab.managers.check.PARSE), run in the world:
    None where it makes none, or the parser refused or did not run (not counted, said)."""
    said = check.ufw_parse(commands, world)
    if isinstance(said, str):
        return [None] * len(commands)
    return [None if not a or "error" in a else a for a in said]


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
    instrument(world, host.name, lab.backend)
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
        lines = (mutants.command_lines(text, host.name) + [None] * len(commands))[: len(commands)]
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
        up.files.append(cov(relative_name(lab_path, folder) if lab_path else lab.name, lab_path, rules))
        up.wants.append(wants)
    if host.manager.folder is not None:
        for table, name in FILES:
            path = host.manager.folder / name
            if table not in up.originals:
                continue
            user = elements.user_rules(up.originals[table])
            rules = [RuleHits(t.line, t.text, 0) for t in user.blocks]
            wants = [[("tuple", table, t.text)] for t in user.blocks]
            claimed |= {k for w in wants for k in w}
            for line, rule in user.untupled:
                up.notes[(len(up.files), len(rules))] = "no `### tuple ###` above it: ufw keeps no map for it"
                rules.append(RuleHits(line, rule, None))
                wants.append([])
            up.files.append(cov(relative_name(path, folder), path, rules))
            up.wants.append(wants)
        for mapped in ufw_files.folder_files(host.manager.folder, first):  # its before.rules ...
            up.files.append(cov(relative_name(mapped.path, folder), mapped.path, mapped.rules))
            up.files[-1].note = mapped.note
            up.wants.append(mapped.wants)
            claimed |= {k for w in mapped.wants for k in w}
    own = [k for k in first if k[0] in ("own", "policy") and k not in claimed and first[k] is not None]
    up.files.append(cov("ufw", None, [RuleHits(None, own_words(k), 0) for k in own], own=True))
    up.wants.append([[k] for k in own])
    for f, c in enumerate(up.files):
        named = [
            f"{c.rules[r].where()} not counted: {why}" for (ff, r), why in sorted(up.notes.items()) if ff == f
        ]
        c.note = "; ".join(x for x in (c.note, *named) if x)
    up.before = first
    return up


def instrument(world: World, host: str, backend: str) -> None:
    """nslab's counting rules in the host's copy: the kernel's IPv6 housekeeping and the
    tracer's marks, each counted apart from the rule after it."""
    count_v6(world, host, backend)
    count_marks(world, host, backend)


def own_words(key: tuple[str, ...]) -> str:
    """`ufw-before-input rule 3: -p icmp ...`, `INPUT policy` (`in table ip6 filter` for IPv6)."""
    where = "" if key[1] == "filter" else f" in table {key[1]}"
    return f"{key[2]} policy{where}" if key[0] == "policy" else f"{key[2]} rule {key[3]}{where}: {key[4]}"


def place_of(
    world: World, lab: Lab, host: Host, lab_path: Path | None, lab_name: str, folder: Path, parsed: Parsed
) -> UfwPlace:
    """The reader's entry (nslab.coverage.managed): the host's commands parsed once a run."""
    assert host.manager is not None
    commands = tuple(host.manager.commands)
    if commands and commands not in parsed.said:
        parsed.said[commands] = parse_commands(world, list(commands))
    return place(world, lab, host, lab_path, lab_name, folder, parsed.said.get(commands, []))
