"""Rule coverage of the elements of named sets and maps (nslab.firewall.set_elements): a
scenario that tests port 80 alone leaves the other ports of @portfwd and @webports never
matched, named as such, where coverage once said `100%` of their rules and nothing else
(while `nslab mutate` removed their elements one by one).

    a 10.9.7.10 ---- n ---- b 10.9.7.20     (tests/labs/setcov.toml, setcov.nft)
"""

from __future__ import annotations

import json
from pathlib import Path

from conftest import ROOT, host_snapshot, needs_netns
from test_rule_coverage import built

from nslab.coverage import report

SETCOV = ROOT / "tests" / "labs" / "setcov.toml"
# a machine shared with other test runs answers a first SYN in more than the default wait
PATIENT = {"probe_wait": 0.9, "ping_wait": 1.0}


@needs_netns
def test_the_elements_of_named_sets_and_maps_are_counted(tmp_path: Path) -> None:
    before = host_snapshot()
    with built(SETCOV, **PATIENT) as session:
        session.listen("b", "tcp", 80)
        assert session.connect("a", "b", "tcp", 80).outcome.outcome == "accepted"
        session.coverage.end(session.w, "port 80")
    (found,) = session.coverage.as_json()
    rules = {r["line"]: r for r in found["rules"]}
    assert rules[5]["elements_of"] == "@portfwd"
    assert rules[5]["elements"] == [
        {"element": "80", "hits": 1},
        {"element": "2000", "hits": 0},
        {"element": "3000", "hits": 0},
    ]
    assert (rules[15]["hits"], rules[15]["elements_of"]) == (1, "@webports")  # its own counter's
    assert rules[15]["elements"] == [
        {"element": "80", "hits": 1},
        {"element": "443", "hits": 0},
        {"element": "8443", "hits": 0},
    ]
    # @seen fills as packets come (`update @seen`): said, not counted per element
    assert "elements" not in rules[14]
    assert rules[14]["elements_not_measured"].startswith("elements of @seen not measured: its elements come")
    (line,) = report.summary(session.coverage)
    assert line == (
        "rule coverage: setcov.nft (b) 3/5 rules (60%), 2/6 elements; never matched: line 14 (ip saddr "
        "@seen counter drop), line 16 (tcp dport 22 update @seen { ip saddr } counter drop); elements "
        "never matched: line 5 @portfwd { 2000, 3000 }, line 15 @webports { 443, 8443 }; line 14: "
        "elements of @seen not measured: its elements come and go (flags timeout)"
    )
    # the public JSON, written and read back (as `nslab report merge` reads the workers')
    report.write(session.coverage, tmp_path)
    (written,) = json.loads((tmp_path / report.JSON).read_text())
    assert written["rules"][0]["elements_of"] == "@portfwd"
    xml = (tmp_path / report.XML).read_text()
    assert '<line number="15" hits="1" branch="true" condition-coverage="33% (1/3)"' in xml
    assert host_snapshot() == before
