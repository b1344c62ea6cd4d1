"""Rule coverage's counting rules in a world's copy of a ruleset (nslab.coverage.counts): rules
of nslab's own, commented `nslab-...`, with no verdict (they change nothing), put before
the user's rule they count for. The user's file and rules are never changed.

- `nslab-count`: the user's rule has no `counter`: its matches and a counter.
- `nslab-nd`: the kernel's IPv6 housekeeping (neighbour discovery, router solicitations,
  duplicate address detection, multicast listener reports) that could match the rule:
  its count is taken off the rule's. Matched by ICMPv6 type as raw transport-header bytes
  (`@th,0,8`), not `icmpv6 type`, whose implied protocol nft refuses beside a rule's own
  `meta l4proto { icmp, ipv6-icmp }` ("conflicting protocols specified").
- `nslab-elem LABEL`: one per element of an anonymous map or verdict map the rule looks
  up (`dnat to tcp dport map { 80 : ..., 8080 : ... }`): the packets whose lookup found
  that element. A counter before a lookup counts every packet that reached the rule,
  found or not; so a rule with a map counts the sum of its elements, and each element is
  reported on its own. A named map (`map @fw`) the same, its elements read from the
  listing (nslab.firewall.set_elements); one whose elements come and go is counted by one
  `nslab-elem` rule that matches the key against it (`tcp dport @fw`): found, not which
  element, and its elements are said to be not measured. Where
  housekeeping could be found in the map (`icmpv6 type vmap { ... }`), each element has
  an `nslab-xnd LABEL` rule too, taken off the element's count. A map keyed by a number
  drawn per packet (`numgen`, `jhash`, `symhash`) gets none: a copy of the key draws its
  own, so which element the user's rule found cannot be told; the rule is not counted.
- `nslab-selem LABEL`: one per element of a named set a rule matches (`tcp dport
  @mailports`): the rule's matches with the element's key in place of the set's name.
  Not `nslab-elem`: the rule's own count stays its own (a `limit` after the match, a
  rule's counter), the elements are reported beside it (`nslab-sxnd LABEL`: housekeeping
  found as that element, taken off). Their own group: one nft refuses costs the elements'
  counts alone. A negated match (`ip saddr != @nets`) has no element a packet found.
- `nslab-loop`: where probes are traced (a lab with a firewalld host), the tracer's
  loopback pings (127.0.x.y, nslab.probe.trace) that could match the rule: nslab's own
  traffic, taken off the rule's count. Its own group, optional: one nft refuses costs
  nothing but that count.
- None for a rule whose `limit`, `quota`, `ct count` or `meter` decides after its matches
  (`quota over 10 mbytes drop` matches nothing until the quota is over; a counter before
  it counts every packet that reached it): only the user's counter after it counts such
  a rule; without one it is not counted, and said so.

Each user rule's counting rules are a group: nslab loads every group at once and, where
nft refuses that, group by group, so one rule nft will not take costs that rule alone
(reported by file and line, hits unknown), never the whole ruleset's counts.
"""

from __future__ import annotations

import json
import re
import shlex
from dataclasses import dataclass, field
from typing import Any

from nslab import parse
from nslab.firewall import set_elements

ND_COMMENT = parse.NSLAB_ND
COUNT_COMMENT = parse.NSLAB_COUNT
ELEM_COMMENT = parse.NSLAB_ELEM
ELEM_ND_COMMENT = parse.NSLAB_ELEM_ND
LOOP_COMMENT = parse.NSLAB_LOOP
SET_ELEM_COMMENT = parse.NSLAB_OWN + "selem"  # one element of the named set the rule after it matches
SET_ELEM_ND_COMMENT = parse.NSLAB_OWN + "sxnd"  # the housekeeping found as that element
# ICMPv6 types of the kernel's own housekeeping: MLD (130-132, 143), ND (133-137)
HOUSEKEEPING_TYPES = [130, 131, 132, 133, 134, 135, 136, 137, 143]
# match subjects that keep neighbour discovery out of a rule: it is ICMPv6 over IPv6 only
_ND_PROTO = {"ipv6-icmp", "icmpv6", "ipv6", "ip6", "58"}
_NOT_ND = {"tcp", "udp", "sctp", "dccp", "icmp", "ip", "th", "udplite", "esp", "ah", "comp", "igmp"}
_LABEL_MAX = 100  # an nft comment holds 128 bytes
_COUNTER = {"counter": {"packets": 0, "bytes": 0}}
# ICMPv6 by its type's raw byte: `icmpv6 type` implies `meta l4proto ipv6-icmp`, which nft
# refuses beside a rule's own `meta l4proto { icmp, ipv6-icmp }`
_HOUSEKEEPING = [
    {"match": {"op": "==", "left": {"meta": {"key": "l4proto"}}, "right": "ipv6-icmp"}},
    {
        "match": {
            "op": "==",
            "left": {"payload": {"base": "th", "offset": 0, "len": 8}},
            "right": {"set": HOUSEKEEPING_TYPES},
        }
    },
]


@dataclass
class Group:
    """nslab's counting rules for one user rule: the `position`th (from 1) rule of its
    chain, not counting nslab's."""

    table: str  # "FAMILY NAME"
    chain: str
    position: int
    commands: list[dict[str, Any]] = field(default_factory=list)
    elements: list[str] = field(default_factory=list)  # the labels of its map's elements
    why: str = ""  # why its hits cannot be known (then it has no counting rules)
    optional: bool = False  # refused, it costs only its own count (the rule stays counted)
    of: str = ""  # whose elements `elements` are: a named set's or map's (`@portfwd`)
    elements_why: str = ""  # why the elements of the rule's named set are not measured
    only_elements: bool = False  # refused, it costs only the elements' counts


def _leading_matches(expr: list[dict[str, Any]]) -> int:
    """How many of a rule's statements are matches before its first action."""
    n = 0
    while n < len(expr) and "match" in expr[n]:
        n += 1
    return n


def _ip_match(field: str) -> dict[str, Any]:
    prefix = {"prefix": {"addr": "127.0.0.0", "len": 8}}
    return {"match": {"op": "==", "left": {"payload": {"protocol": "ip", "field": field}}, "right": prefix}}


# the tracer's marks: ICMP between loopback addresses
_LOOPBACK = [
    _ip_match("saddr"),
    _ip_match("daddr"),
    {"match": {"op": "==", "left": {"meta": {"key": "l4proto"}}, "right": "icmp"}},
]
_LOOP_PROTO = {"ip", "icmp"}


def _loop_could_match(family: str, hook: str, matches: list[dict[str, Any]]) -> bool:
    """Whether the tracer's loopback pings could pass these matches (IPv4 ICMP, never
    forwarded; a rule matching another protocol or address family is left alone)."""
    if family not in ("ip", "inet") or hook in ("forward", "ingress"):
        return False
    for m in matches:
        left = m["match"].get("left", {})
        if "payload" in left and left["payload"].get("protocol") not in _LOOP_PROTO:
            return False
        if "meta" in left and left["meta"].get("key") in ("l4proto", "nfproto", "protocol"):
            right = m["match"].get("right")
            values = right["set"] if isinstance(right, dict) and "set" in right else [right]
            if m["match"].get("op", "==") in ("==", "in") and not any(
                str(v) in ("icmp", "ipv4", "ip", "1") for v in values
            ):
                return False
    return True


def _nd_could_match(matches: list[dict[str, Any]]) -> bool:
    """Whether a packet of neighbour discovery could pass these matches (as nft would
    refuse a rule mixing `tcp dport` with ICMPv6's type, such rules are left alone)."""
    for m in matches:
        left = m["match"].get("left", {})
        if "payload" in left and left["payload"].get("protocol") in _NOT_ND:
            return False
        if "meta" in left and left["meta"].get("key") in ("l4proto", "nfproto", "protocol"):
            right = m["match"].get("right")
            values = right["set"] if isinstance(right, dict) and "set" in right else [right]
            if m["match"].get("op", "==") in ("==", "in") and not any(str(v) in _ND_PROTO for v in values):
                return False
    return True


def label(key: object) -> str:
    """A map element's key as nft writes it: 8080, 10.0.0.0/24, 1-100, 81 . 10.1.1.1."""
    if isinstance(key, dict):
        if "range" in key:
            return "-".join(label(k) for k in key["range"])
        if "prefix" in key:
            return f"{label(key['prefix']['addr'])}/{key['prefix']['len']}"
        if "concat" in key:
            return " . ".join(label(k) for k in key["concat"])
        if "elem" in key:
            return label(key["elem"].get("val"))
    return str(key)


def _lookups(expr: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The maps and verdict maps a rule's statements look up (`{"key": ..., "data": ...}`)."""
    found: list[dict[str, Any]] = []

    def walk(node: object) -> None:
        if isinstance(node, dict):
            for k, v in node.items():
                if k in ("map", "vmap") and isinstance(v, dict) and "key" in v and "data" in v:
                    found.append(v)
                else:
                    walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)

    walk(expr)
    return found


def _drawn(key: object) -> str:
    """The expression of a map's key that gives each packet a number of its own (`numgen
    inc`, `jhash ... mod 2`): a counting rule's copy would draw its own, so which element
    the user's rule found cannot be told."""
    text = json.dumps(key)
    return ", ".join(k for k in ("numgen", "jhash", "symhash") if f'"{k}"' in text)


# statements that decide per packet, by a budget of their own, whether the rule goes on:
# matches in effect, yet stateful (`limit rate over 10/second`, `quota over 10 mbytes`)
_GATES = {"limit": "`limit`", "quota": "`quota`", "ct count": "`ct count`", "meter": "`meter`"}


def _gate(statements: list[dict[str, Any]], lookups: bool) -> str:
    """The first statement after a rule's matches that passes some packets and stops
    others by a state nslab's copy cannot share, where no user's counter comes after it
    (which counts exactly what it passed); "" where there is none."""
    for n, st in enumerate(statements):
        kind = next((k for k in st if k in _GATES), None)
        if kind is None and "set" in st and isinstance(st["set"], dict) and st["set"].get("stmt"):
            kind = "set"  # `update @s { ip saddr limit rate 10/second }`
        if kind is not None:
            counted = any("counter" in later for later in statements[n + 1 :])
            return "" if counted and not lookups else _GATES.get(kind, "`update @set { ... }`")
    return ""


def _xt(node: object) -> bool:
    """Whether a rule holds an xtables match or target (`{"xt": ...}`: iptables-nft's)."""
    if isinstance(node, dict):
        return "xt" in node or any(_xt(v) for v in node.values())
    return isinstance(node, list) and any(_xt(v) for v in node)


def _set_elements(
    group: Group,
    before: dict[str, Any],
    matches: list[dict[str, Any]],
    rest: list[dict[str, Any]],
    sets: dict[tuple[str, str], set_elements.NamedSet],
    changing: set[tuple[str, str]],
    nd_here: bool,
) -> Group | None:
    """The counting rules for the elements of the named set a rule matches (`tcp dport
    @mailports`), a group of their own; None where there is none or they cannot be
    counted (`group.elements_why` then says why)."""
    found = set_elements.set_match(matches)
    if found is None:
        return None
    n, name, op = found
    if op not in ("==", "in"):
        group.elements_why = f"elements of @{name} not measured: the rule matches what is not in it"
        return None
    s = sets.get((group.table, name))
    why = "the listing lacks it" if s is None else set_elements.why_not(s, changing)
    gate = next((_GATES[k] for st in rest for k in st if k in _GATES), "")
    if not why and gate:  # the elements' rules come before it: they count what it stops too
        why = f"its {gate} passes or stops each packet after the set's match"
    if s is None or why:
        group.elements_why = f"elements of @{name} not measured: {why}"
        return None
    later = set_elements.set_match(matches[n + 1 :])
    if later is not None:  # `ip saddr @nets tcp dport @ports`: the first set's elements
        group.elements_why = f"elements of @{later[1]} not measured: nslab counts one set a rule (@{name})"
    per = Group(group.table, group.chain, group.position, of=f"@{name}", only_elements=True)

    def insert(extra: list[dict[str, Any]], comment: str) -> dict[str, Any]:
        return {"insert": {"rule": {**before, "expr": [*extra, _COUNTER], "comment": comment}}}

    for key in s.keys:
        name_ = label(key)[:_LABEL_MAX]
        look = {"match": {"op": "==", "left": matches[n]["match"]["left"], "right": {"set": [key]}}}
        mine = [*matches[:n], look, *matches[n + 1 :]]
        per.elements.append(name_)
        per.commands.append(insert(mine, f"{SET_ELEM_COMMENT} {name_}"))
        if nd_here and _nd_could_match(mine):
            per.commands.append(insert([*mine, *_HOUSEKEEPING], f"{SET_ELEM_ND_COMMENT} {name_}"))
    return per


def plan(listing: dict[str, Any], tables: set[str], loop: bool = False) -> list[Group]:
    """The counting rules for the user's rules of `tables` (every rule of nslab's own left
    out: the world's copy is instrumented once); `loop`: the tracer's marks too."""
    hooks = {
        (c["family"], c["table"], c["name"]): c.get("hook", "")
        for item in listing.get("nftables", [])
        if isinstance(c := item.get("chain"), dict)
    }
    groups: list[Group] = []
    positions: dict[tuple[str, str, str], int] = {}
    sets, changing = set_elements.named(listing), set_elements.filled(listing)
    for item in listing.get("nftables", []):
        r = item.get("rule")
        if not isinstance(r, dict) or parse.nslab_own(r):
            continue
        where = (r["family"], r["table"], r["chain"])
        positions[where] = positions.get(where, 0) + 1
        if f"{r['family']} {r['table']}" not in tables or _xt(r.get("expr", [])):
            continue  # iptables-nft's rules (`xt` matches) load through iptables only: their own counters
        group = Group(f"{r['family']} {r['table']}", r["chain"], positions[where])
        expr = list(r.get("expr", []))
        before = {**{k: r[k] for k in ("family", "table", "chain")}, "handle": r["handle"]}
        matches = expr[: _leading_matches(expr)]

        def insert(extra: list[dict[str, Any]], comment: str, g: Group = group) -> None:
            rule = {**before, "expr": [*matches, *extra, _COUNTER], "comment": comment}  # noqa: B023
            g.commands.append({"insert": {"rule": rule}})

        # an IP forward hook never sees housekeeping (link-local, never routed); a bridge's
        # forward hook and a device's ingress see it between the bridge's ports
        nd_here = r["family"] in ("bridge", "netdev") or (
            r["family"] in ("ip6", "inet") and hooks.get(where, "") != "forward"
        )
        lookups = _lookups(expr[len(matches) :])
        gate = _gate(expr[len(matches) :], bool(lookups))
        if gate:  # only the user's counter after it can tell
            group.why = (
                f"its {gate} passes or stops each packet after its matches, and a copy would keep "
                "a budget of its own (a counter after it counts the rule)"
            )
            groups.append(group)
            continue
        if lookups:  # found in a map: per element (the first map a rule looks up decides)
            key, data = lookups[0]["key"], lookups[0]["data"]
            drawn = _drawn(key)
            also = set_elements.set_match(matches)
            if also is not None:  # one set of elements a rule: its map's
                group.elements_why = f"elements of @{also[1]} not measured: the rule's map's are"
            if drawn:  # a copy of the key draws its own number: not the user's rule's
                group.why = f"its map's key is drawn per packet ({drawn})"
                groups.append(group)
                continue
            if isinstance(data, dict) and "set" in data:
                keys = [(e[0] if isinstance(e, list) else e) for e in data["set"]]
                found: list[tuple[str, object]] = [(label(k)[:_LABEL_MAX], {"set": [k]}) for k in keys]
                group.elements = [name for name, _ in found]
            elif isinstance(data, str) and (s := sets.get((group.table, data.lstrip("@")))) is not None:
                why = set_elements.why_not(s, changing)
                if why:  # a named map whose elements come and go: found or not
                    found, group.elements_why = [(data, data)], f"elements of {data} not measured: {why}"
                else:
                    found = [(label(k)[:_LABEL_MAX], {"set": [k]}) for k in s.keys]
                    group.elements, group.of = [name for name, _ in found], data
            elif isinstance(data, str):  # a named map the listing lacks: found or not
                found = [(data, data)]
            else:
                found = []
            for name, right in found:
                look = {"match": {"op": "==", "left": key, "right": right}}
                insert([look], f"{ELEM_COMMENT} {name}")
                if nd_here and _nd_could_match([*matches, look]):  # housekeeping an element found
                    insert([look, *_HOUSEKEEPING], f"{ELEM_ND_COMMENT} {name}")
        else:
            per = _set_elements(group, before, matches, expr[len(matches) :], sets, changing, nd_here)
            if per is not None:
                groups.append(per)
            if nd_here and _nd_could_match(matches):
                insert(_HOUSEKEEPING, ND_COMMENT)
            if not any("counter" in e for e in expr):
                insert([], COUNT_COMMENT)
            if loop and _loop_could_match(r["family"], hooks.get(where, ""), matches):
                marks = Group(group.table, group.chain, group.position, optional=True)
                insert(_LOOPBACK, LOOP_COMMENT, marks)
                groups.append(marks)
        if group.commands or group.elements_why:  # counting rules, or what it cannot count: said
            groups.append(group)
    return groups


def instrument(listing: dict[str, Any], tables: set[str]) -> list[dict[str, Any]]:
    """Every counting rule for `tables`, as `nft -j -f` commands (one batch)."""
    return [c for g in plan(listing, tables) for c in g.commands]


# --- read back ----------------------------------------------------------------------------

# (table, chain) -> the rule's position in its chain (from 1) -> its map's elements' packets
Elements = dict[tuple[str, str], dict[int, dict[str, int]]]
_ELEMENT_COUNTS = (ELEM_COMMENT, ELEM_ND_COMMENT, SET_ELEM_COMMENT, SET_ELEM_ND_COMMENT)
_ELEMENT_ND = (ELEM_ND_COMMENT, SET_ELEM_ND_COMMENT)


def elements(listing: str) -> Elements:
    """Each map element's packets (nslab's `nslab-elem` rules) from an `nft -j list
    ruleset`, by the user's rule after them."""
    out: Elements = {}
    pending: dict[tuple[str, str], dict[str, int]] = {}
    position: dict[tuple[str, str], int] = {}
    for item in json.loads(listing or "{}").get("nftables", []):
        r = item.get("rule")
        if not isinstance(r, dict):
            continue
        key = (f"{r['family']} {r['table']}", r["chain"])
        comment = str(r.get("comment", ""))
        own = next((p for p in _ELEMENT_COUNTS if comment.startswith(p + " ")), None)
        if own is not None:  # an element's count; its housekeeping's taken off
            packets = int(next((e["counter"]["packets"] for e in r.get("expr", []) if "counter" in e), 0))
            name = comment[len(own) :].strip()
            sums = pending.setdefault(key, {})
            sums[name] = sums.get(name, 0) + (-packets if own in _ELEMENT_ND else packets)
        elif not parse.nslab_own(r):
            position[key] = position.get(key, 0) + 1
            if key in pending:
                out.setdefault(key, {})[position[key]] = pending.pop(key)
    return out


# --- ip6tables ------------------------------------------------------------------------------

_ICMP6 = {"ipv6-icmp", "icmpv6", "58"}


def ip6tables_instrument(save: str, tables: set[str]) -> str | None:
    """The ip6tables-restore text (from `ip6tables-save -c`) with nslab's housekeeping
    counting rules (`-m comment --comment nslab-nd`, one per ICMPv6 type, no target) before
    each rule of `tables` that housekeeping could match; None where no rule needs one. As
    for nft: only where it can pass (not FORWARD: it is never forwarded; not a rule
    matching another protocol)."""
    out: list[str] = []
    table = ""
    added = False
    for line in save.splitlines():
        if line.startswith("*"):
            table = line[1:].strip()
        counted = re.match(r"^(\[\d+:\d+\] )?-A (\S+) (.*)$", line)
        if counted and f"ip6 {table}" in tables and counted[2] != "FORWARD" and "nslab-" not in line:
            args = shlex.split(counted[3])
            cut = next((i for i, a in enumerate(args) if a in ("-j", "-g")), len(args))
            matches = args[:cut]
            proto = matches[matches.index("-p") + 1] if "-p" in matches else None
            negated = "-p" in matches and matches.index("-p") > 0 and matches[matches.index("-p") - 1] == "!"
            if not negated and (proto is None or proto in _ICMP6):
                base = matches if proto else ["-p", "ipv6-icmp", *matches]
                for kind in HOUSEKEEPING_TYPES:
                    shadow = [*base, "-m", "icmp6", "--icmpv6-type", str(kind), "-m", "comment"]
                    out.append(f"[0:0] -A {counted[2]} {shlex.join([*shadow, '--comment', ND_COMMENT])}")
                added = True
        out.append(line)
    return "\n".join(out) + "\n" if added else None
