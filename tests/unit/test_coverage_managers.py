"""Rule coverage through the managers, its pure logic (nslab.coverage.ufw, .firewalld,
.report): ufw's `### tuple ###` map read from user.rules as ufw writes it, a command's
tuple matched in both families, a command's line in the lab file, a zone file's elements
and the rules firewalld writes of them, and the report keeping a manager's own rules out
of the percentage. Real inputs: the ufw and firewalld packages' shipped files parse. The
real runs: tests/netns/test_rule_coverage_managers.py."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from nslab.coverage import firewalld as fwd
from nslab.coverage import managed, marks, report, ufw, ufw_files
from nslab.coverage.counts import Coverage
from nslab.coverage.files import FileCoverage, RuleHits
from nslab.errors import TargetError
from nslab.firewall import instrument
from nslab.lab import load_lab
from nslab.managers import check, elements
from nslab.managers.mutants import command_lines

UFW_SHIPPED = sorted(
    [*Path("/usr/share/ufw/iptables").glob("*.rules"), *Path("/usr/share/ufw").glob("*.rules")]
)
FIREWALLD = Path("/usr/lib/firewalld")

# as ufw 0.36's backend writes them: `limit 22/tcp`, `allow log 80` (-p all: tcp and udp)
WRITTEN = """*filter
:ufw-user-input - [0:0]
### RULES ###

### tuple ### limit tcp 22 0.0.0.0/0 any 0.0.0.0/0 in
-A ufw-user-input -p tcp --dport 22 -m conntrack --ctstate NEW -m recent --set
-A ufw-user-input -p tcp --dport 22 -m recent --update --seconds 30 --hitcount 6 -j ufw-user-limit
-A ufw-user-input -p tcp --dport 22 -j ufw-user-limit-accept

### tuple ### allow_log any 80 0.0.0.0/0 any 0.0.0.0/0 in
-A ufw-user-logging-input -p tcp --dport 80 -m conntrack --ctstate NEW -j LOG --log-prefix "[UFW ALLOW] "
-A ufw-user-logging-input -p tcp --dport 80 -j RETURN
-A ufw-user-input -p tcp --dport 80 -j ufw-user-logging-input
-A ufw-user-input -p tcp --dport 80 -j ACCEPT
-A ufw-user-input -p udp --dport 80 -j ufw-user-logging-input
-A ufw-user-input -p udp --dport 80 -j ACCEPT

-A ufw-user-input -p tcp --dport 99 -j ACCEPT

### END RULES ###
-A ufw-user-limit -j REJECT
COMMIT
"""


def test_each_tuple_owns_the_deciding_rules_written_under_it() -> None:
    found = elements.user_rules(WRITTEN)
    assert [(t.text, t.line, list(t.positions)) for t in found.blocks] == [
        # the `--set` rule (no -j) sees every packet its two verdict rules see: not summed
        ("limit tcp 22 0.0.0.0/0 any 0.0.0.0/0 in", 5, [("ufw-user-input", 2), ("ufw-user-input", 3)]),
        # logging jumps are not verdicts; the logging chain's rules are the tuple's too
        ("allow_log any 80 0.0.0.0/0 any 0.0.0.0/0 in", 10, [("ufw-user-input", 5), ("ufw-user-input", 7)]),
    ]
    assert found.lengths == {"ufw-user-input": 8, "ufw-user-logging-input": 2}
    # a rule with no tuple above it: ufw keeps no map for it, nslab says so
    assert found.untupled == ((18, "-A ufw-user-input -p tcp --dport 99 -j ACCEPT"),)


@pytest.mark.skipif(not UFW_SHIPPED, reason="ufw's rules are not installed (apt-get install ufw)")
def test_ufws_shipped_rules_files_parse() -> None:
    for path in UFW_SHIPPED:
        found = elements.user_rules(path.read_text())
        assert found.blocks == () and found.untupled == (), path  # before.rules ...: ufw's own


def test_a_commands_tuple_is_the_same_rule_in_both_families() -> None:
    def key(written: str) -> tuple[str, ...]:  # a `### tuple ###` line's fields
        return ufw.tuple_key(written.split(" "))

    parsed = ufw.tuple_key(["allow", "tcp", "22", "0.0.0.0/0", "any", "0.0.0.0/0", "-", "-", "in"])
    assert key("allow tcp 22 0.0.0.0/0 any 0.0.0.0/0 in") == parsed
    assert key("allow tcp 22 ::/0 any ::/0 in") == parsed
    assert key("allow tcp 23 ::/0 any ::/0 in") != parsed
    assert key("allow tcp 22 0.0.0.0/0 any 10.0.0.0/8 in") != parsed
    # an application's rule: its name (the ports are the profile's, filled in by ufw)
    app = ufw.tuple_key(["allow", "any", "OpenSSH", "0.0.0.0/0", "any", "0.0.0.0/0", "OpenSSH", "-", "in"])
    assert key("allow tcp 22 0.0.0.0/0 any 0.0.0.0/0 OpenSSH - in") == app
    assert key("allow tcp 22") == ("malformed", "allow", "tcp", "22")  # ufw skips it: no command's


def test_a_commands_line_is_found_under_its_host() -> None:
    lab = (
        '[[host]]\nname = "a"\nfirewall = { ufw = ["allow 22/tcp"] }\n\n'
        '[[host]]\nname = "b"\nfirewall = { ufw = ["default deny incoming", "ufw allow 22/tcp",\n'
        '  "allow 80/tcp"] }\n\n'
        "[[host]]\nname = 'c'\n# firewall = { ufw = ['allow 22/tcp'] }\n"
        "firewall = { ufw = ['allow 22/tcp'] }\n"
    )
    assert command_lines(lab, "b") == [7, 7, 8]
    assert command_lines(lab, "a") == [3]
    # TOML's literal strings; not host a's same string, nor the comment's
    assert command_lines(lab, "c") == [13]
    assert command_lines(lab, "nobody") == []


def test_nslabs_mark_counting_rules_shadow_only_what_the_marks_could_match() -> None:
    save = (
        "*filter\n:INPUT DROP [0:0]\n[3:180] -A ufw-before-input -i lo -j ACCEPT\n"
        "[0:0] -A ufw-before-input -p tcp -m tcp --dport 22 -j ACCEPT\n"
        "[0:0] -A ufw-before-input -s 10.0.0.0/8 -j ACCEPT\nCOMMIT\n"
    )
    text = marks.marks_instrument(save)
    assert text is not None
    added = [ln for ln in text.splitlines() if "nslab-mark" in ln]
    assert added == [
        "[0:0] -A ufw-before-input -p icmp -i lo -s 127.0.0.0/8 -d 127.0.0.0/8 "
        "-m comment --comment nslab-mark"
    ]
    assert marks.marks_instrument("*filter\n[0:0] -A INPUT -p tcp -j ACCEPT\nCOMMIT\n") is None


# --- firewalld ----------------------------------------------------------------------------------


def test_a_zone_files_elements_and_the_rules_firewalld_writes_of_them(tmp_path: Path) -> None:
    services = tmp_path / "services"
    services.mkdir()
    (services / "web.xml").write_text(
        '<service><port protocol="tcp" port="80"/><port protocol="tcp" port="8000-8010"/></service>'
    )
    (services / "v6only.xml").write_text(
        '<service><port protocol="udp" port="546"/><destination ipv6="fe80::/64"/></service>'
    )
    zone = fwd.parse_xml(
        "<zone>\n"
        ' <service name="web"/>\n'
        ' <port protocol="udp" port="53"/>\n'
        ' <service name="v6only"/>\n'
        ' <rule family="ipv4"><source address="10.0.0.0/8"/>'
        '<port protocol="tcp" port="22"/><accept/></rule>\n'
        ' <rule family="ipv4"><source address="10.0.0.0/8"/><service name="web"/><drop/></rule>\n'
        ' <rule family="ipv4"><port protocol="tcp" port="23"/><log/><accept/></rule>\n'
        ' <service name="nowhere"/>\n'
        ' <source-port protocol="udp" port="5000"/>\n'
        ' <protocol value="gre"/>\n'
        "</zone>\n"
    )
    got = [(e.line, fwd.element_words(e), fwd.expected(e, [services])) for e in zone.children]
    assert got == [
        (2, "service web", ("allow", ["tcp dport 80 accept", "tcp dport 8000-8010 accept"])),
        (3, "port 53/udp", ("allow", ["udp dport 53 accept"])),
        (4, "service v6only", ("allow", ["ip6 daddr fe80::/64 udp dport 546 accept"])),
        (5, "rich rule family=ipv4", ("allow", ["ip saddr 10.0.0.0/8 tcp dport 22 accept"])),
        (
            6,
            "rich rule family=ipv4",
            (
                "deny",
                ["ip saddr 10.0.0.0/8 tcp dport 80 drop", "ip saddr 10.0.0.0/8 tcp dport 8000-8010 drop"],
            ),
        ),
        (7, "rich rule family=ipv4", None),  # a log: nslab does not know all it writes
        (8, "service nowhere", None),  # no file of that service: cannot tell
        (9, "source-port 5000/udp", ("allow", ["udp sport 5000 accept"])),  # as firewalld 1.3 wrote them
        (10, "protocol gre", ("allow", ["meta l4proto gre accept"])),
    ]


def test_a_tables_listing_by_chain() -> None:
    text = (
        "table inet firewalld { # handle 1\n\tchain filter_IN_public_allow { # handle 63\n"
        "\t\ttcp dport 22 accept # handle 73\n\t}\n\tchain filter_INPUT { # handle 2\n"
        "\t\ttype filter hook input priority filter + 10; policy accept;\n"
        "\t\tct state invalid drop # handle 4\n\t}\n}\n"
    )
    assert fwd.listing(text) == {
        "filter_IN_public_allow": ["tcp dport 22 accept"],
        "filter_INPUT": ["ct state invalid drop"],
    }


@pytest.mark.skipif(
    not (FIREWALLD / "zones").is_dir(), reason="firewalld is not installed (apt-get install firewalld)"
)
def test_firewallds_shipped_zones_and_services_parse() -> None:
    folders = [FIREWALLD / "services"]
    for path in sorted((FIREWALLD / "services").glob("*.xml")):
        assert fwd.parse_xml(path.read_text()).tag == "service", path
        fwd.service_rules(path.stem, folders)  # None (a helper) or rules: never an error
    ssh = fwd.service_rules("ssh", folders)
    assert ssh == ["tcp dport 22"]
    mapped = 0
    for path in sorted((FIREWALLD / "zones").glob("*.xml")):
        zone = fwd.parse_xml(path.read_text())
        for e in (c for c in zone.children if c.tag in fwd.MAPPED):
            mapped += fwd.expected(e, folders) is not None
    assert mapped > 0


# --- the report ---------------------------------------------------------------------------------


def _cov() -> Coverage:
    cov = Coverage()
    mine = FileCoverage(
        "lab.toml", "web", "lab.toml", [RuleHits(3, "allow 22/tcp", 4), RuleHits(4, "allow 80/tcp", 0)],
        kind="ufw", manager="ufw",
    )  # fmt: skip
    own = FileCoverage(
        "ufw", "web", "lab.toml",
        [RuleHits(None, "ufw-before-input rule 1: -i lo -j ACCEPT", 0),
         RuleHits(None, "ufw-before-input rule 2: -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT", 7),
         RuleHits(None, "INPUT policy", 0),
         RuleHits(None, "OUTPUT rule 1 in table ip6 filter: -j ufw6-before-output", 2)],
        kind="ufw", manager="ufw", own=True,
    )  # fmt: skip
    cov.files = {f.key: f for f in (mine, own)}
    return cov


def test_a_managers_own_rules_are_per_chain_and_outside_the_percentage(tmp_path: Path) -> None:
    cov = _cov()
    assert report.total(cov) == (1, 2)
    assert report.summary(cov) == [
        "rule coverage: lab.toml (web, ufw) 1/2 rules (50%); never matched: line 4 (allow 80/tcp)",
        "rule coverage: ufw's own rules (web), not the lab's, per chain (not in the percentage): "
        "2/4 rules matched: ufw-before-input 1/2, OUTPUT in table ip6 filter 1/1",
    ]
    assert report.below(cov, 60) is not None and report.below(cov, 50) is None
    assert "ufw-before-input" not in report.cobertura(cov)
    # the JSON keeps which manager and whose rules (added keys), and reads them back
    cov.save(tmp_path / "c.json")
    back = Coverage.load([tmp_path / "c.json"])
    assert {(f.file, f.manager, f.own) for f in back.files.values()} == {
        ("lab.toml", "ufw", False),
        ("ufw", "ufw", True),
    }
    page = report.file_page(back.files[("lab.toml", "web", "ufw")])
    assert "ufw-before-input rule 2" in page


def test_a_zone_file_counts_elements() -> None:
    f = FileCoverage(
        "zones/public.xml",
        "gw",
        "lab.toml",
        [RuleHits(5, "port 8443/tcp", 1)],
        kind="firewalld",
        manager="firewalld",
    )
    assert report.share(f) == "1/1 elements (100%)"


def test_ufws_parser_gives_each_commands_tuple() -> None:
    """ufw's own parser (what validate and mutate run too: it reads and writes no file), as
    coverage reads it: a rule's tuple fields, a default, nothing (no rule), or ufw's words."""
    if check.interpreter() is None:
        pytest.skip("ufw is not installed (apt-get install ufw)")
    commands = [
        ["allow", "22/tcp"],
        ["default", "deny", "incoming"],
        ["logging", "off"],
        ["route", "allow", "80"],
        ["allow", "99999/tcp"],
    ]
    said = check.ufw_parse(commands)
    assert not isinstance(said, str), said
    assert said[1:3] == [{"default": ["deny", "incoming"]}, {}]
    assert ufw.tuple_key(said[0]["tuple"]) == ufw.tuple_key(
        ["allow", "tcp", "22", "::/0", "any", "::/0", "in"]
    )
    assert said[3]["tuple"][0] == "route:allow"
    assert said[4] == {"error": "Bad port"}


def test_commands_on_one_line_are_one_cobertura_line_with_a_branch_each() -> None:
    """`ufw = ["default deny incoming", "allow 22/tcp", "allow 80/tcp"]` on one line of the
    lab file: a CI system reads each line once, so they are one line, each a branch."""
    cov = Coverage()
    f = FileCoverage(
        "lab.toml", "web", "lab.toml",
        [RuleHits(7, "default deny incoming", 2), RuleHits(7, "allow 22/tcp", 3),
         RuleHits(7, "allow 80/tcp", 0)],
        kind="ufw", manager="ufw",
    )  # fmt: skip
    cov.files = {f.key: f}
    lines = [
        (x.get("number"), x.get("hits"), x.get("condition-coverage"))
        for x in ET.fromstring(report.cobertura(cov).split("\n", 2)[2]).iter("line")
    ]
    assert lines == [("7", "5", "66% (2/3)")]


def test_a_folders_own_before_rules_map_to_the_chains_ufw_filled_with_them(tmp_path: Path) -> None:
    (tmp_path / "before.rules").write_text(
        "*filter\n:ufw-before-input - [0:0]\n:ufw-not-local - [0:0]\n"
        "-A ufw-before-input -i lo -j ACCEPT\n-A ufw-not-local -j DROP\n"
        "-A ufw-before-input -p tcp --dport 2225 -j ACCEPT\nCOMMIT\n"
    )
    read = {
        ("own", "filter", "ufw-before-input", "1", "-i lo -j ACCEPT"): 0,
        ("own", "filter", "ufw-before-input", "2", "-p tcp -m tcp --dport 2225 -j ACCEPT"): 3,
        ("own", "filter", "ufw-before-input", "3", "-j ufw-user-input"): 9,  # ufw appends it
        ("own", "filter", "ufw-not-local", "1", "-j RETURN"): 0,  # held otherwise than the file
        ("own", "filter", "ufw-not-local", "2", "-j DROP"): 0,
    }
    (mapped,) = ufw_files.folder_files(tmp_path, read)
    assert [(r.line, r.rule, r.hits) for r in mapped.rules] == [
        (4, "-i lo -j ACCEPT", 0),
        (6, "-p tcp --dport 2225 -j ACCEPT", 0),
        (5, "-j DROP", None),
    ]
    assert [w[0][3] if w else None for w in mapped.wants] == ["1", "2", None]
    assert mapped.note == (
        "chain ufw-not-local of table filter holds 2 rules where before.rules gives 1: "
        "its rules are not counted"
    )


def test_housekeeping_reaching_a_policy_is_counted_apart() -> None:
    save = (
        "*filter\n:INPUT DROP [5:400]\n:OUTPUT ACCEPT [9:700]\n[1:60] -A INPUT -j ufw6-before-input\nCOMMIT\n"
    )
    text = marks.policy_nd(save)
    added = [ln for ln in text.splitlines() if "nslab-pnd" in ln]
    assert len(added) == 2 * 9  # INPUT and OUTPUT, each housekeeping ICMPv6 type
    assert added[0] == "[0:0] -A INPUT -p ipv6-icmp -m icmp6 --icmpv6-type 130 -m comment --comment nslab-pnd"
    assert text.index("nslab-pnd") > text.index("-j ufw6-before-input")  # after the chain's rules
    assert marks.policy_nd(text) == text  # once: a reload of ufw's chains keeps the built-in's
    counted = text.replace(
        "[0:0] -A OUTPUT -p ipv6-icmp -m icmp6 --icmpv6-type 143 ",
        "[2:180] -A OUTPUT -p ipv6-icmp -m icmp6 --icmpv6-type 143 ",
    )
    assert marks.policy_nd_packets(counted) == {"INPUT": 0, "OUTPUT": 2}


def test_the_tracers_marks_get_an_optional_nft_counting_rule_where_they_could_match() -> None:
    def rule(chain: str, handle: int, *expr: dict[str, object], family: str = "inet") -> dict[str, object]:
        return {
            "rule": {
                "family": family,
                "table": "t",
                "chain": chain,
                "handle": handle,
                "expr": [*expr, {"accept": None}],
            }
        }

    lo: dict[str, object] = {"match": {"op": "==", "left": {"meta": {"key": "iif"}}, "right": "lo"}}
    tcp: dict[str, object] = {
        "match": {"op": "==", "left": {"payload": {"protocol": "tcp", "field": "dport"}}, "right": 80}
    }
    listing = {
        "nftables": [
            {"chain": {"family": "inet", "table": "t", "name": "input", "hook": "input"}},
            {"chain": {"family": "inet", "table": "t", "name": "forward", "hook": "forward"}},
            rule("input", 2, lo),
            rule("input", 3, tcp),
            rule("forward", 4, lo),
        ]
    }
    marks = [g for g in instrument.plan(listing, {"inet t"}, loop=True) if g.optional]
    assert [(g.chain, g.position) for g in marks] == [("input", 1)]  # not tcp's, never forwarded
    (command,) = marks[0].commands
    assert command["insert"]["rule"]["comment"] == "nslab-loop" and command["insert"]["rule"]["handle"] == 2
    assert not [g for g in instrument.plan(listing, {"inet t"}) if g.optional]  # only where traced


def test_a_manager_host_nslab_cannot_read_is_not_measured_and_says_why() -> None:
    """The world failing under the reading (a fake: only the error path is under test)
    never fails the build: the host's entry is 'not measured', with the reason."""

    class Gone:
        def run(self, *args: object, **kwargs: object) -> None:
            raise TargetError("the world is gone", "start a new one")

    lab_path = Path(__file__).parents[1] / "labs" / "ufw-only.toml"
    (unread,) = managed.places(Gone(), load_lab(lab_path), lab_path, "ufw-only.toml", managed.Parsed())  # type: ignore[arg-type]
    assert isinstance(unread, managed.Unread)
    (f,) = unread.end("s")
    assert (f.file, f.manager, f.measured) == ("ufw (not read)", "ufw", False)
    cov = Coverage()
    cov.files = {f.key: f}
    assert report.summary(cov) == [
        "rule coverage: ufw (not read) (web, ufw) not measured: nslab could not read ufw's rules: "
        "the world is gone (fix: start a new one)"
    ]
