"""Which rule decided: per-rule counter deltas taken around a probe.

A verdict is only as good as its evidence. Like the kernel's netfilter selftests, which
read per-namespace counters after a failed ping, a probe snapshots every firewall's
counters (`iptables-save -c`) right before and right after it runs; the rules and
policies whose counters grew are the ones that decided its packets. Pure logic over
parsed snapshots, so it is tested on real captured rulesets without a kernel.

>>> from nslab.firewall.iptables_parse import iptables_save
>>> before = iptables_save("*filter\\n:FORWARD DROP [0:0]\\nCOMMIT\\n")
>>> after = iptables_save("*filter\\n:FORWARD DROP [3:252]\\nCOMMIT\\n")
>>> [d.describe() for d in decisions({"host": before}, {"host": after})]
['dropped by FORWARD policy DROP (+3 packets)']
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace

from nslab.parse import Chain, Rule, Ruleset

DROPS = ("DROP", "REJECT")
VERDICTS = ("ACCEPT", *DROPS)
# NAT rules decide where a packet goes, not whether: "translated by", beside the verdict
# (a NAT rule counts a connection's first packet only: its +N is connections).
MOVES = ("DNAT", "REDIRECT")  # the translations that send a packet somewhere else
TRANSLATIONS = ("MASQUERADE", "SNAT", *MOVES)
HOST = "host"  # the lab's host: the world's root namespace
# nslab's own housekeeping, never a probe's verdict: the neighbour and router discovery the
# networks stage accepts first in the host's ip6 FORWARD chain (types 133-136, as
# ip6tables-save prints them). Their counters grow with every IPv6 probe's ND; listed as
# "accepted by", they stood beside the user's rule that decided.
HOUSEKEEPING = re.compile(r"-p ipv6-icmp -m icmp6 --icmpv6-type 13[3-6] -j ACCEPT")
# The hooks where a packet's way through a place ends (delivered, forwarded, sent): an
# ACCEPT policy there decides. Elsewhere (prerouting, postrouting) it only lets the packet
# on to the next hook, whose chains decide (a firewalld gateway's mangle_PREROUTING and
# filter_PREROUTING policies were named for every flow the zone's rule accepted).
FINAL_HOOKS = ("input", "forward", "output")


@dataclass(frozen=True)
class Decision:
    """A rule or a chain policy that counted packets while a probe ran."""

    where: str  # "host" or the lab namespace holding the firewall
    table: str
    chain: str
    rule: int | None  # 1-based position in its chain; None for the chain's policy
    target: str  # ACCEPT, DROP or REJECT; or a translation (MASQUERADE, SNAT, DNAT, REDIRECT)
    spec: str  # the rule as iptables-save prints it, without "-A CHAIN"; "" for a policy
    packets: int  # packets it counted during the probe
    of: int = 0  # rules in its chain (nslab.firewall.sources checks the file gives the chain as many)
    text: str = ""  # the rule as the user's file writes it, else as its tool lists it
    source: str = ""  # where the user's file writes it: "router.nft:36"
    nd: bool = False  # it dropped the neighbour discovery the probe needed, not the probe
    handle: int | None = None  # an nft rule's handle: its text is looked up by it (nslab.firewall.sources)
    # the firewall manager that wrote the rule or set the policy (ufw, firewalld, Docker:
    # nslab.managers), where nslab knows
    made_by: str = ""

    @property
    def drops(self) -> bool:
        return self.target in DROPS

    def describe(self, counted: bool = True, *, as_parsed: bool = False) -> str:
        """`edge: dropped by forward rule 7 (counter drop) in table inet edge at
        dmz-edge.nft:19 (+1 packets)`: the rule in the user's words and where they wrote
        it; without the count where it would change from run to run (a reachability
        record, a diff). `as_parsed`: as nslab named it before it read the user's file
        (the rule as parsed from the tool's listing, no file:line), which scenarios written
        then still match."""
        verb = {"ACCEPT": "accepted", "DROP": "dropped", "REJECT": "rejected"}.get(self.target, "translated")
        shown = self.spec if as_parsed else self.text or self.spec
        what = (
            f"{self.chain} policy {self.target}"
            if self.rule is None
            else f"{self.chain} rule {self.rule} ({shown})"
        )
        where = "" if self.where == HOST else f"{self.where}: "
        table = "" if self.table in ("filter", "ip filter") else f" in table {self.table}"
        at = f" at {self.source}" if self.source and not as_parsed else ""
        nd = "neighbour discovery failed: " if self.nd else ""
        made = f" (made by {self.made_by})" if self.made_by else ""
        return f"{nd}{where}{verb} by {what}{table}{at}{made}" + (
            f" (+{self.packets} packets)" if counted else ""
        )

    def names(self) -> list[str]:
        """Every way a step may name it: as described, and as parsed (see describe)."""
        return [self.describe(), self.describe(as_parsed=True)]


@dataclass(frozen=True)
class Written:
    """A rule as a ruleset file writes it (nslab.firewall.sources reads them)."""

    text: str  # iptables: without `-A CHAIN`
    at: str  # "router.nft:36"; "" for a rule no file writes (a manager's)
    made_by: str = ""  # what made the rule (a manager: "ufw", "Docker"); "": the user's file


# a lab's ruleset files' rules: (place, table, chain) -> the rules the files give it, in order
Sources = Mapping[tuple[str, str, str], Sequence[Written]]


def attach(d: Decision, written: Sources | None) -> Decision:
    """The decision with its rule's text and file:line, where its chain holds exactly the
    rules the file gives it (nothing else added one: a script, a step); unchanged
    otherwise (a policy, a rule of nslab's or of a script): nslab does not guess."""
    if not written:
        return d
    if d.rule is None:  # a policy a manager set: (place, table, "CHAIN policy")
        set_by = written.get((d.where, d.table, f"{d.chain} policy"))
        return replace(d, made_by=set_by[0].made_by) if set_by else d
    rules = written.get((d.where, d.table, d.chain))
    if not rules or len(rules) != d.of or d.rule > len(rules):
        return d
    w = rules[d.rule - 1]
    return replace(d, text=w.text, source=w.at, made_by=w.made_by)


def settle(found: Iterable[Decision]) -> list[Decision]:
    """Only what decided: where a rule of a place accepted, that place's ACCEPT policies
    decided nothing (the packet met them on its way to the rule, or they took the
    replies of a flow the rule let in)."""
    found = list(found)
    ruled = {d.where for d in found if d.rule is not None and d.target == "ACCEPT"}
    return [d for d in found if not (d.rule is None and d.target == "ACCEPT" and d.where in ruled)]


@dataclass(frozen=True)
class Evidence:
    """What the firewalls counted during one probe."""

    decisions: tuple[Decision, ...] = ()
    # the chains whose drop policy keeps no counter (nft's: `fw: forward in table inet fw`)
    # in the places read: where nothing counted a lost probe, one of them may have dropped
    # it, and the counters cannot say (nslab.probe.traced asks nft's trace)
    uncounted: tuple[str, ...] = ()

    def deciding(self, *, lost: bool, refused: bool = False) -> list[Decision]:
        """The decisions behind a verdict: what dropped for a loss, what accepted otherwise;
        a rule that dropped neighbour discovery only where nothing dropped the probe."""
        return deciders(self.decisions, lost=lost, refused=refused)

    def summary(self, *, lost: bool, refused: bool = False) -> str:
        found = self.deciding(lost=lost, refused=refused)
        if found:
            return "; ".join(d.describe() for d in found)
        # nft counts no policy: "no policy counted" would read as "no policy dropped it"
        unsure = self.unsure() if lost else ""
        if self.decisions:
            return (
                "no rule or policy "
                + ("dropped" if lost else "accepted")
                + " its packets ("
                + "; ".join(d.describe() for d in self.decisions)
                + ")"
                + (f"; {unsure}" if unsure else "")
            )
        if unsure:
            return f"no rule counted its packets; {unsure}"
        return "no firewall rule or policy counted its packets"

    def unsure(self) -> str:
        """What the counters cannot say: a drop policy nft keeps no counter for."""
        if not self.uncounted:
            return ""
        chains = " or ".join(self.uncounted)
        return (
            f"nft keeps no counter for a chain's policy, so nslab cannot say whether the drop "
            f"policy of {chains} dropped them"
        )


def uncounted_policies(after: Mapping[str, Ruleset]) -> tuple[str, ...]:
    """The filter chains whose DROP policy keeps no counter (a native nft chain's), as
    `PLACE: CHAIN in table TABLE` (Evidence.uncounted)."""
    return tuple(
        f"{'' if where == HOST else f'{where}: '}{chain.name} in table {table.name}"
        for where, ruleset in after.items()
        for table in ruleset.tables.values()
        for chain in table.chains.values()
        if chain.policy == "DROP" and chain.packets is None and filters(chain.kind, table.name)
    )


def deciders(found: Sequence[Decision], *, lost: bool, refused: bool = False) -> list[Decision]:
    """What dropped a lost probe (what accepted one that got through); a rule that
    dropped the neighbour discovery it needed only where nothing dropped the probe.
    `refused`: a TCP connection answered by a reset, which `reject with tcp reset` sends
    as a closed port does: such a rule decided it (read as accepted, a connection it
    refused was "decided by no rule")."""
    resets = [d for d in found if refused and d.target == "REJECT" and not d.nd]
    if resets:
        return resets
    chosen = [d for d in found if d.drops == lost]
    if any(not d.nd for d in chosen):
        return [d for d in chosen if not d.nd]
    return chosen


def _counted(chain: Chain | None, index: int, spec: str, nd: bool = False) -> int:
    """Packets the same rule had counted before (0 for a rule that was not there); `nd`:
    the neighbour discovery nslab's rule counted for it."""
    if chain is None:
        return 0
    rule: Rule | None = chain.rules[index] if index < len(chain.rules) else None
    if rule is None or rule.spec != spec:
        rule = next((r for r in chain.rules if r.spec == spec), None)
    return 0 if rule is None else (rule.nd if nd else rule.packets) or 0


def filters(kind: str | None, table: str) -> bool:
    """Whether a chain of `kind` (an nft base chain's type; None for a user chain) in
    `table` decides verdicts: the filter table's chains (its user chains too: NAVY)."""
    return (kind or table) == "filter" or table.endswith(" filter")


def decides(target: str | None, kind: str | None, table: str) -> bool:
    """Whether a rule with `target` there is evidence of a verdict: in a filter chain any
    verdict; elsewhere (nat, mangle, raw) only a drop or a translation."""
    return target in (*DROPS, *TRANSLATIONS) or (target in VERDICTS and filters(kind, table))


def policy_decides(chain: Chain, hook: str | None = None) -> bool:
    """Whether a chain's policy can decide: DROP always; ACCEPT only at a hook where the
    packet's way through the place ends (iptables names its chains by hook), and only in
    a chain with rules of the user's: an empty chain accepting is no firewall at all
    (explore said "no rule decided" and a scenario "INPUT policy ACCEPT" for the same flow)."""
    if chain.policy != "ACCEPT":
        return True
    if (hook or chain.name.lower()) not in FINAL_HOOKS:
        return False
    return any(not HOUSEKEEPING.fullmatch(r.spec) for r in chain.rules)


def decisions(
    before: Mapping[str, Ruleset],
    after: Mapping[str, Ruleset],
    written: Sources | None = None,
) -> list[Decision]:
    """Every verdict rule and policy whose packet counter grew between the snapshots, in
    the user's words where `written` (nslab.firewall.sources) has them.

    The filter table decides; other tables (nat, mangle, raw) count only where they drop:
    nat's policies count connections, not verdicts.
    """
    found = []
    for where, ruleset in after.items():
        old = before.get(where, Ruleset())
        for table in ruleset.tables.values():
            for chain in table.chains.values():
                prev = old.chain(chain.name, table.name)
                if (
                    filters(chain.kind, table.name)
                    and chain.policy in VERDICTS
                    and chain.packets is not None
                    and policy_decides(chain)
                ):
                    grew = chain.packets - ((prev.packets or 0) if prev else 0)
                    if grew > 0:
                        policy = Decision(where, table.name, chain.name, None, chain.policy, "", grew)
                        found.append(attach(policy, written))
                for i, rule in enumerate(chain.rules):
                    if (
                        rule.target is None
                        or rule.packets is None
                        or not decides(rule.target, chain.kind, table.name)
                    ):
                        continue
                    if where == HOST and HOUSEKEEPING.fullmatch(rule.spec):
                        continue
                    # the neighbour discovery nslab counted for a dropping rule (rule
                    # coverage's count): a loss with no drop of its own was the discovery's
                    nd = (rule.nd or 0) - _counted(prev, i, rule.spec, nd=True)
                    if nd > 0 and rule.target in DROPS:
                        d = Decision(
                            where, table.name, chain.name, i + 1, rule.target, rule.spec, nd, len(chain.rules)
                        )
                        found.append(attach(replace(d, nd=True), written))
                    grew = rule.packets - _counted(prev, i, rule.spec)
                    if grew > 0:
                        d = Decision(
                            where,
                            table.name,
                            chain.name,
                            i + 1,
                            rule.target,
                            rule.spec,
                            grew,
                            len(chain.rules),
                            handle=rule.handle,
                        )
                        found.append(attach(d, written))
    return settle(found)
