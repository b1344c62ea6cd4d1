"""One parser per manager file, in nslab.managers.elements, read by rule coverage
(nslab.coverage.ufw, nslab.coverage.firewalld) and by mutate (nslab.managers.mutants)
alike: ufw's user.rules tuples, firewalld's zone, policy and service elements. Pure: text
in, positions out, no world."""

from __future__ import annotations

import re

import pytest
from conftest import ROOT

from nslab.coverage import firewalld as fwd
from nslab.managers import elements

# as ufw writes it (a limit rule, a logged rule, a comment), then a rule with no tuple
USER_RULES = """*filter
:ufw-user-input - [0:0]
:ufw-user-logging-input - [0:0]
### RULES ###

### tuple ### limit tcp 22 0.0.0.0/0 any 0.0.0.0/0 in comment=7373682d6c696d6974
-A ufw-user-input -p tcp --dport 22 -m conntrack --ctstate NEW -m recent --set
-A ufw-user-input -p tcp --dport 22 -m conntrack --ctstate NEW -m recent --update -j ufw-user-limit
-A ufw-user-input -p tcp --dport 22 -j ufw-user-limit-accept

### tuple ### allow_log udp 53 0.0.0.0/0 any 0.0.0.0/0 in
-A ufw-user-logging-input -p udp --dport 53 -j LOG --log-prefix "[UFW ALLOW] "
-A ufw-user-input -p udp --dport 53 -j ufw-user-logging-input
-A ufw-user-input -p udp --dport 53 -j ACCEPT

-A ufw-user-input -p tcp --dport 99 -j ACCEPT

### END RULES ###
COMMIT
"""


def test_one_reading_of_user_rules_gives_mutate_its_lines_and_coverage_its_positions() -> None:
    found = elements.user_rules(USER_RULES)
    assert [(b.line, b.fields, b.comment, b.rules, b.positions) for b in found.blocks] == [
        (
            6,
            ("limit", "tcp", "22", "0.0.0.0/0", "any", "0.0.0.0/0", "in"),
            "7373682d6c696d6974",
            (6, 7, 8),  # mutate turns each -A line (0-based)
            (("ufw-user-input", 2), ("ufw-user-input", 3)),  # coverage sums these (the --set has no -j)
        ),
        (
            11,
            ("allow_log", "udp", "53", "0.0.0.0/0", "any", "0.0.0.0/0", "in"),
            "",
            (11, 12, 13),
            (("ufw-user-input", 5),),  # the logging jump decides nothing
        ),
    ]
    assert found.lengths == {"ufw-user-input": 6, "ufw-user-logging-input": 1}
    assert found.untupled == ((16, "-A ufw-user-input -p tcp --dport 99 -j ACCEPT"),)
    # mutate's blocks are that one reading (coverage reads it as it is)
    assert elements.ufw_blocks(USER_RULES) == (list(found.blocks), [])


def test_a_tuple_is_read_as_ufws_own_reader_reads_it() -> None:
    # backend_iptables `_read_rules`: ` comment=` cut first, then `^### tuple ###` on the
    # line as it is: an indented one is no tuple to ufw (it drops it on its next write), so
    # its rule has no map, for coverage as for mutate
    text = (
        "  ### tuple ### allow tcp 22 0.0.0.0/0 any 0.0.0.0/0 in\n"
        "-A ufw-user-input -p tcp --dport 22 -j ACCEPT\n"
    )
    read = elements.user_rules(text)
    assert read.blocks == () and read.untupled == ((2, "-A ufw-user-input -p tcp --dport 22 -j ACCEPT"),)
    assert elements.ufw_blocks(text) == ([], [])


def test_an_unclosed_quote_in_a_rule_is_read_not_a_crash() -> None:
    text = (
        "### tuple ### allow_log tcp 22 0.0.0.0/0 any 0.0.0.0/0 in\n"
        '-A ufw-user-logging-input -j LOG --log-prefix "[UFW ALLOW] \n'
        "-A ufw-user-input -p tcp --dport 22 -j ufw-user-logging-input\n"
        "-A ufw-user-input -p tcp --dport 22 -j ACCEPT\n"
    )
    read = elements.user_rules(text)
    assert [t.positions for t in read.blocks] == [(("ufw-user-input", 2),)]
    assert read.lengths == {"ufw-user-logging-input": 1, "ufw-user-input": 2}


ZONE = """<?xml version="1.0" encoding="utf-8"?>
<zone>
  <short>Zöne — ü</short>
  <rule family="ipv4">
    <source address="10.0.0.0/8"/>
    <log prefix="a>b"><limit value="1/m"/></log>
    <accept/>
  </rule>
  <port port="22" protocol="tcp" />
</zone>
"""


def test_every_element_has_its_line_and_its_text() -> None:
    assert fwd.parse_xml is elements.parse_xml  # coverage's tree is mutate's
    root = elements.parse_xml(ZONE)
    rule = root.find("rule")
    assert rule is not None and rule.line == 4 and rule.attrs == {"family": "ipv4"}
    assert ZONE[rule.start : rule.end].startswith('<rule family="ipv4">\n    <source')
    assert ZONE[rule.start : rule.end].endswith("<accept/>\n  </rule>")
    log = rule.find("log")
    assert log is not None and log.line == 6
    assert ZONE[log.start : log.end] == '<log prefix="a>b"><limit value="1/m"/></log>'
    port = root.find("port")
    assert port is not None and ZONE[port.start : port.end] == '<port port="22" protocol="tcp" />'
    # mutate's elements are those nodes' spans (a rich rule in firewalld's words)
    assert [(e.tag, e.line, e.start, e.end) for e in elements.zone_elements(ZONE)] == [
        ("rule", 4, rule.start, rule.end),
        ("port", 9, port.start, port.end),
    ]


def test_a_file_that_is_not_xml_is_said_in_each_commands_words() -> None:
    with pytest.raises(elements.XmlError) as said:
        elements.parse_xml("<zone>\n<port port='1'/>\n</zon>\n")
    assert str(said.value) == "not well-formed XML (line 3: mismatched tag)"  # mutate's
    assert said.value.expat == "mismatched tag: line 3, column 2"  # coverage's note, as it was
    with pytest.raises(elements.XmlError, match="no element found"):
        elements.parse_xml("")


def test_only_the_managers_elements_module_parses_a_managers_files() -> None:
    parsers = re.compile(r"xml\.parsers\.expat|re\.compile\(r?[\"']\^?### tuple")
    mine = ROOT / "src/nslab/managers/elements.py"
    found = [
        str(p.relative_to(ROOT))
        for p in sorted((ROOT / "src/nslab").rglob("*.py"))
        if p != mine and parsers.search(p.read_text())
    ]
    assert found == []
