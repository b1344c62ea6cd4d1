"""`nft -j list ruleset` as typed rules (nslab.parse.Ruleset, as iptables-save's are):
the nft kind's reading of rules and counters.

>>> rs = nft_json('{"nftables": [{"chain": {"family": "inet", "table": "t", "name": "c", '
...     '"type": "filter", "policy": "drop"}}]}')
>>> (rs.chain("c", "inet t").policy, rs.chain("c", "inet t").kind)
('DROP', 'filter')
"""

from __future__ import annotations

import json

from nslab.parse import (
    NSLAB_COUNT,
    NSLAB_ELEM,
    NSLAB_ELEM_ND,
    NSLAB_LOOP,
    NSLAB_ND,
    Chain,
    Rule,
    Ruleset,
    Table,
    nslab_own,
)

_IFNAMES = ("iifname", "oifname", "iif", "oif")  # meta keys nft prints without "meta"


def _nft_value(value: object) -> str:
    if isinstance(value, dict):
        if "prefix" in value:
            return f"{value['prefix']['addr']}/{value['prefix']['len']}"
        if "set" in value:
            return "{ " + ", ".join(_nft_value(v) for v in value["set"]) + " }"
        if "range" in value:
            low, high = value["range"]
            return f"{_nft_value(low)}-{_nft_value(high)}"
        if "concat" in value:  # `10.92.2.10 . 22`: an address and a port in one map value
            return " . ".join(_nft_value(v) for v in value["concat"])
        if "map" in value:  # `tcp dport map { 2222 : 10.92.2.10 . 22 }`, as nft lists it
            m = value["map"]
            pairs = m["data"].get("set", []) if isinstance(m.get("data"), dict) else []
            data = ", ".join(f"{_nft_value(k)} : {_nft_value(v)}" for k, v in pairs)
            return f"{_nft_left(m['key'])} map {{ {data} }}" if pairs else f"{_nft_left(m['key'])} map"
        if any(k in value for k in ("payload", "meta", "ct", "fib")):
            return _nft_left(value)
        return json.dumps(value, sort_keys=True)
    if isinstance(value, list):
        return ",".join(_nft_value(v) for v in value)
    return str(value)


def _nft_left(left: dict[str, dict[str, str]]) -> str:
    if "payload" in left:
        return f"{left['payload'].get('protocol', '')} {left['payload'].get('field', '')}".strip()
    if "meta" in left:
        key = left["meta"]["key"]
        return key if key in _IFNAMES else f"meta {key}"
    if "ct" in left:
        return f"ct {left['ct']['key']}"
    if "fib" in left:  # reverse-path and address-type checks: "fib saddr . iif oif"
        return f"fib {' . '.join(left['fib']['flags'])} {left['fib']['result']}"
    return json.dumps(left, sort_keys=True)


def _nft_statement(stmt: dict[str, object]) -> str:
    """One statement of a rule's `expr`, rendered the way `nft list ruleset` prints it."""
    ((key, arg),) = stmt.items()
    if key == "match":
        m = arg
        op = "" if m["op"] in ("==", "in") else f"{m['op']} "  # type: ignore[index]
        left = _nft_left(m["left"])  # type: ignore[index]
        right = _nft_value(m["right"])  # type: ignore[index]
        if isinstance(m["right"], bool):  # type: ignore[index]
            right = "exists" if m["right"] else "missing"  # type: ignore[index]  # as nft prints a fib result
        if left in _IFNAMES and isinstance(m["right"], str):  # type: ignore[index]
            right = f'"{right}"'  # nft quotes interface names
        return f"{left} {op}{right}"
    if key in ("jump", "goto"):
        return f"{key} {arg['target']}"  # type: ignore[index]
    if key == "reject" and isinstance(arg, dict) and arg.get("expr"):
        return f"reject with {arg.get('type', 'icmp')} {arg['expr']}"
    if key in ("dnat", "snat") and isinstance(arg, dict):
        # as nft lists it: `dnat ip to tcp dport map { 2222 : 10.92.2.10 . 22 }` (the
        # family where the rule gives one: an inet table's), `snat to 10.0.0.1:80`
        port = f":{_nft_value(arg['port'])}" if "port" in arg else ""
        family = f" {arg['family']}" if arg.get("family") else ""
        return f"{key}{family} to {_nft_value(arg.get('addr', ''))}{port}"
    if key in ("redirect", "masquerade") and isinstance(arg, dict) and "port" in arg:
        return f"{key} to :{_nft_value(arg['port'])}"  # `redirect to :80`
    return key  # accept, drop, counter, masquerade, return, log ...


_NFT_VERDICTS = {
    "accept": "ACCEPT",
    "drop": "DROP",
    "reject": "REJECT",
    "masquerade": "MASQUERADE",
    "snat": "SNAT",
    "dnat": "DNAT",
    "redirect": "REDIRECT",
}


def nft_json(text: str) -> Ruleset:
    """Parse `nft -j list ruleset` into the same typed rules as iptables-save, counters
    included where a rule has a `counter` statement. Tables are named "FAMILY NAME" (an
    iptables-nft table shows as "ip filter"); a base chain's `type` is its kind, so
    "which rule decided" treats every filter chain alike. Native nft keeps no counter for a
    chain's policy: its `packets` stay None. nslab's own rules (nslab.coverage.counts) are no
    rules here: their counts go to the user's rule after them (one without a counter of
    its own is counted by nslab's; neighbour discovery is taken off)."""
    rs = Ruleset()
    items = json.loads(text or '{"nftables": []}').get("nftables", [])
    # named counters (`counter name "web_hits"` in a rule): their packets are the rule's
    named = {
        (c["family"], c["table"], c["name"]): c for i in items if isinstance(c := i.get("counter"), dict)
    }
    rs.counters = {c["name"]: int(c["packets"]) for c in named.values()}
    # a named counter two rules share counts for both: its growth says neither which one
    # matched (an IPv4 frag-needed was credited to `icmpv6 type packet-too-big`), so such a
    # rule has no count of its own here (the trace names the rule that matched)
    uses: dict[tuple[str, str, str], int] = {}
    for i in items:
        r = i.get("rule")
        for e in r.get("expr", []) if isinstance(r, dict) else []:
            if isinstance(e.get("counter"), str):
                key = (r["family"], r["table"], e["counter"])
                uses[key] = uses.get(key, 0) + 1
    shared = {k for k, n in uses.items() if n > 1}
    pending: dict[tuple[str, str], dict[str, dict[str, int]]] = {}  # nslab's rules before the next
    for item in items:
        if "table" in item:
            t = item["table"]
            rs.tables.setdefault(f"{t['family']} {t['name']}", Table(f"{t['family']} {t['name']}"))
        elif "chain" in item:
            c = item["chain"]
            table = rs.tables.setdefault(f"{c['family']} {c['table']}", Table(f"{c['family']} {c['table']}"))
            policy = c.get("policy", "").upper() or None
            table.chains[c["name"]] = Chain(c["name"], policy, kind=c.get("type"))
        elif "rule" in item:
            r = item["rule"]
            table = rs.tables.setdefault(f"{r['family']} {r['table']}", Table(f"{r['family']} {r['table']}"))
            chain = table.chains.setdefault(r["chain"], Chain(r["chain"], None))
            exprs = r.get("expr", [])
            if nslab_own(r):  # its count belongs to the user's rule after it
                own = pending.setdefault((table.name, chain.name), {})
                own[str(r["comment"])] = next((e["counter"] for e in exprs if "counter" in e), {})
                continue
            own = pending.pop((table.name, chain.name), {})
            counter = next(
                (
                    e["counter"]
                    if isinstance(e["counter"], dict)
                    else None
                    if (r["family"], r["table"], e["counter"]) in shared
                    else named.get((r["family"], r["table"], e["counter"]))
                    for e in exprs
                    if "counter" in e
                ),
                None,
            )
            counter = counter or own.get(NSLAB_COUNT)
            nd_packets = own[NSLAB_ND].get("packets", 0) if NSLAB_ND in own else None
            found = [c for name, c in own.items() if name.startswith(NSLAB_ELEM)]
            nd = [c for name, c in own.items() if name.startswith(NSLAB_ELEM_ND)]
            if found:  # a rule with a map: its packets are those whose lookup found an element
                counter = {
                    k: sum(c.get(k, 0) for c in found) - sum(c.get(k, 0) for c in nd)
                    for k in ("packets", "bytes")
                }
            if counter and NSLAB_ND in own:  # neighbour discovery is housekeeping, never a verdict
                counter = {k: counter[k] - own[NSLAB_ND].get(k, 0) for k in ("packets", "bytes")}
            if counter and NSLAB_LOOP in own:  # the tracer's loopback pings: nslab's own traffic
                counter = {k: counter[k] - own[NSLAB_LOOP].get(k, 0) for k in ("packets", "bytes")}
            target = next((_NFT_VERDICTS[k] for e in exprs for k in e if k in _NFT_VERDICTS), None)
            target = target or next((e[k]["target"] for e in exprs for k in e if k in ("jump", "goto")), None)
            chain.rules.append(
                Rule(
                    r["chain"],
                    " ".join(
                        _nft_statement(e) if "counter" not in e else f'counter name "{e["counter"]}"'
                        for e in exprs
                        if "counter" not in e or isinstance(e["counter"], str)
                    )
                    or "(empty)",
                    target,
                    counter["packets"] if counter else None,
                    counter["bytes"] if counter else None,
                    nd_packets,
                    r.get("handle"),
                )
            )
    _inherit_kinds(rs)
    return rs


def _inherit_kinds(rs: Ruleset) -> None:
    """A chain jumped to (or goto'd) from a base chain takes its type: firewalld's
    filter_IN_public_allow, in table inet firewalld, filters as filter_INPUT does, so its
    rules decide verdicts (they were never named)."""
    for _ in range(sum(len(t.chains) for t in rs.tables.values())):
        changed = False
        for table in rs.tables.values():
            for chain in table.chains.values():
                for rule in chain.rules if chain.kind else ():
                    callee = table.chains.get(rule.target or "")
                    if callee is not None and callee.kind is None and callee.policy is None:
                        callee.kind, changed = chain.kind, True
        if not changed:
            return
