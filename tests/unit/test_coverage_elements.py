"""Rule coverage of set and map elements, on the record alone (nslab.coverage.report) and
in the counting rules' plan (nslab.firewall.instrument), from `nft -j` listings as nft
1.0.6 prints them."""

from __future__ import annotations

from typing import Any

from nslab.coverage import report
from nslab.coverage.counts import Coverage, FileCoverage, RuleHits
from nslab.firewall import instrument


def _cov(*files: FileCoverage) -> Coverage:
    cov = Coverage()
    cov.files = {f.key: f for f in files}
    return cov


def test_the_line_counts_elements_beside_rules_and_names_them_apart() -> None:
    """A new user read `2/2 rules (100%); never matched: line 14, element 2000, line 14,
    element 3000` as a contradiction, its commas ambiguous: the elements are counted
    beside the rules and named per rule, as nft writes a set."""
    dnat = RuleHits(14, "dnat to tcp dport map { ... }", 1, {"1000": 1, "2000": 0, "3000": 0})
    snat = RuleHits(28, "snat ip saddr map { ... }", 2, {"192.168.1.1": 2, "192.168.2.2": 0})
    ports = RuleHits(30, "tcp dport @web counter accept", 0, {"80": 0, "443": 0}, of="@web")
    named = RuleHits(31, "tcp dport @mail counter accept", 4, {"25": 4, "587": 0}, of="@mail")
    r = FileCoverage("r.nft", "r", "lab.toml", [dnat, snat, ports, named])
    assert report.summary(_cov(r)) == [
        "rule coverage: r.nft (r) 3/4 rules (75%), 3/9 elements; never matched: line 30 (tcp dport @web "
        "counter accept); elements never matched: line 14 { 2000, 3000 }, line 28 { 192.168.2.2 }, "
        "line 31 @mail { 587 }"
    ]
    plain = FileCoverage("a.nft", "a", "lab.toml", [RuleHits(3, "accept", 1)])
    assert report.share(plain) == "1/1 rules (100%)"


def test_many_elements_never_matched_are_cut_short_and_said_where() -> None:
    ports = {str(p): 0 for p in range(1000, 1010)} | {"80": 1}
    rules = [RuleHits(n, "tcp dport @p accept", 1, dict(ports), of="@p") for n in range(3, 8)]
    (line,) = report.summary(_cov(FileCoverage("a.nft", "a", "lab.toml", rules)))
    assert line == (
        "rule coverage: a.nft (a) 5/5 rules (100%), 5/55 elements; elements never matched: "
        "line 3 @p { 1000, 1001, 1002, 1003 and 6 more }, line 4 @p { 1000, 1001, 1002, 1003 and 6 more }, "
        "line 5 @p { 1000, 1001, 1002, 1003 and 6 more } and 2 more (all in rule-coverage.json)"
    )


def test_the_json_says_whose_elements_and_which_were_not_measured() -> None:
    rule = RuleHits(4, "tcp dport @p accept", 1, {"80": 1}, of="@p")
    gone = RuleHits(5, "ip saddr @seen drop", 0, elements_note="elements of @seen not measured: why")
    f = FileCoverage("a.nft", "a", "lab.toml", [rule, gone])
    d = f.as_json()
    assert d["rules"][0]["elements_of"] == "@p"
    assert d["rules"][1]["elements_not_measured"] == "elements of @seen not measured: why"
    assert FileCoverage.from_json(d).as_json() == d
    # a worker whose world refused the elements' counting rules, merged with one that took them
    refused = RuleHits(4, "tcp dport @p accept", 2, elements_note="elements of @p not measured: refused")
    merged = FileCoverage("a.nft", "a", "lab.toml", [refused, RuleHits(5, "ip saddr @seen drop", 0)])
    merged.add(FileCoverage.from_json(d))
    assert (merged.rules[0].hits, merged.rules[0].elements, merged.rules[0].of) == (3, None, "")
    assert merged.rules[0].elements_note == "elements of @p not measured: refused"
    assert merged.rules[1].elements_note == "elements of @seen not measured: why"


def _listing(sets: list[dict[str, Any]], exprs: list[list[dict[str, Any]]]) -> dict[str, Any]:
    chain = {"family": "inet", "table": "t", "name": "input", "hook": "input"}
    rules = [
        {"rule": {"family": "inet", "table": "t", "chain": "input", "handle": 10 + n, "expr": e}}
        for n, e in enumerate(exprs)
    ]
    return {"nftables": [{"table": {"family": "inet", "name": "t"}}, *sets, {"chain": chain}, *rules]}


DPORT = {"payload": {"protocol": "tcp", "field": "dport"}}
SADDR = {"payload": {"protocol": "ip", "field": "saddr"}}


def _set(name: str, elem: list[Any], **more: Any) -> dict[str, Any]:
    where = {"family": "inet", "table": "t", "name": name}
    return {"set": {**where, "type": "inet_service", "elem": elem, **more}}


def _match(left: dict[str, Any], right: object, op: str = "==") -> dict[str, Any]:
    return {"match": {"op": op, "left": left, "right": right}}


def test_a_named_sets_elements_get_a_counting_rule_each_in_a_group_of_their_own() -> None:
    """`tcp dport @p counter accept`: one `nslab-selem` rule per element, the element's
    key in place of the set's name; the rule's own count stays its counter's."""
    listing = _listing(
        [_set("p", [80, {"range": [1000, 1010]}])],
        [[_match(DPORT, "@p"), {"counter": {"packets": 0, "bytes": 0}}, {"accept": None}]],
    )
    (per,) = instrument.plan(listing, {"inet t"})
    assert (per.only_elements, per.of, per.elements) == (True, "@p", ["80", "1000-1010"])
    rules = [c["insert"]["rule"] for c in per.commands]
    assert [r["comment"] for r in rules] == ["nslab-selem 80", "nslab-selem 1000-1010"]
    assert rules[1]["expr"][0] == _match(DPORT, {"set": [{"range": [1000, 1010]}]})
    assert rules[1]["handle"] == 10


def test_elements_nslab_cannot_count_are_said_never_guessed() -> None:
    big = _set("big", list(range(1, 400)))
    moving = _set("seen", [], flags=["timeout"])
    filled = _set("filled", [80])
    nets = _set("nets", [{"prefix": {"addr": "10.0.0.0", "len": 8}}], type="ipv4_addr")
    update = {"set": {"op": "update", "elem": SADDR, "set": "@filled"}}
    listing = _listing(
        [big, moving, filled, nets],
        [
            [_match(DPORT, "@big"), {"accept": None}],
            [_match(SADDR, "@seen"), {"counter": None}, {"drop": None}],
            [_match(DPORT, "@filled", "!="), {"drop": None}],
            [_match(DPORT, "@filled"), update, {"accept": None}],
            [_match(DPORT, "@nowhere"), {"limit": {"rate": 1}}, {"counter": None}, {"accept": None}],
            [_match(SADDR, "@nets"), _match(DPORT, "@filled"), {"accept": None}],
        ],
    )
    said = {g.position: g.elements_why for g in instrument.plan(listing, {"inet t"}) if g.elements_why}
    assert said == {
        1: "elements of @big not measured: it has 399 elements (nslab counts up to 256, a rule each)",
        2: "elements of @seen not measured: its elements come and go (flags timeout)",
        3: "elements of @filled not measured: the rule matches what is not in it",
        4: "elements of @filled not measured: a rule adds its elements as packets come",
        5: "elements of @nowhere not measured: the listing lacks it",
        6: "elements of @filled not measured: nslab counts one set a rule (@nets)",
    }
    (nets,) = [g for g in instrument.plan(listing, {"inet t"}) if g.only_elements]
    assert (nets.position, nets.elements) == (6, ["10.0.0.0/8"])


def test_a_named_maps_elements_are_counted_one_by_one() -> None:
    """`dnat to tcp dport map @fwd`: once found-or-not (one rule, no element named)."""
    elem = [[2000, "10.0.0.1"], [3000, "10.0.0.2"]]
    fwd = {"map": {"family": "inet", "table": "t", "name": "fwd", "elem": elem}}
    listing = _listing([fwd], [[{"dnat": {"addr": {"map": {"key": DPORT, "data": "@fwd"}}}}]])
    (g,) = instrument.plan(listing, {"inet t"})
    assert (g.elements, g.of) == (["2000", "3000"], "@fwd")
    assert [c["insert"]["rule"]["comment"] for c in g.commands] == ["nslab-elem 2000", "nslab-elem 3000"]
