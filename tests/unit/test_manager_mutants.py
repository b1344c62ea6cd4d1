"""The mutants nslab mutate makes of a firewall manager's rules (nslab.managers.mutants,
read by nslab.managers.elements), pure: ufw commands of a lab file turned and their
ports moved, ufw's user.rules blocks changed in their tuple and lines alike, firewalld's
zone and policy elements removed; what cannot be mutated is said. Run in real worlds:
tests/netns/test_mutate_managers.py.

tests/data/ufw-folder/ holds user.rules and user6.rules as ufw 0.36.2 wrote them in a
world (a lab host's `firewall = { ufw = [...] }` of: default deny incoming, allow 22/tcp,
deny 8080, reject 25/tcp, limit 2222/tcp, allow log 53/udp, allow from 10.0.0.0/8 to any
port 5432 proto tcp, allow proto tcp from any port 1024:2000 to any port 80,443, allow
6000:6007/tcp, allow OpenSSH, route allow in on eth0 out on eth0 to 10.7.0.0/24 port
8443 proto tcp, deny out 25 comment 'no mail out', allow in on eth0 to any port 9100
proto tcp), read back from the host's /etc/ufw.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import cast

import pytest
from conftest import DATA, ROOT

from nslab.coverage.mutate import Baseline, MutantResult, Mutator, as_json, text_report
from nslab.coverage.mutate_managers import of_lab, refused
from nslab.lab import load_lab
from nslab.managers import elements, ufw

UFW = DATA / "ufw-folder"
LAB = """[lab]
name = "m"
[[network]]
name = "lan"
subnet = "10.7.0.0/24"
[[host]]
name = "web"
interfaces = [{{ network = "lan", address = "10.7.0.20" }}]
firewall = {{ ufw = {web} }}
[[host]]
name = "db"
interfaces = [{{ network = "lan", address = "10.7.0.30" }}]
firewall = {{ {db} }}
"""


def _lab(tmp_path: Path, web: str, db: str) -> Path:
    path = tmp_path / "lab.toml"
    path.write_text(LAB.format(web=web, db=db))
    return path


# --- ufw commands of the lab file ------------------------------------------------------------------


def test_each_ufw_command_is_turned_and_its_ports_moved_each_a_lab_with_that_command_changed(
    tmp_path: Path,
) -> None:
    # the same command on two hosts: each mutant changes its own host's only
    path = _lab(
        tmp_path,
        '["default deny incoming", "ufw allow 22/tcp", "limit from 10.0.0.0/8 to any port 5432", '
        '"allow ssh"]',
        'ufw = ["allow 22/tcp", "reject 23"]',
    )
    found, unmade = of_lab(load_lab(path), path)
    got = [(m.host, m.line, m.mutation.split(" ufw command ", 1)[1]) for m in found]
    pg = "from 10.0.0.0/8 to any port"
    assert got == [
        ("web", 9, "1 `default deny incoming` -> `default allow incoming`"),
        ("web", 9, "2 `allow 22/tcp` -> `deny 22/tcp`"),
        (
            "web",
            9,
            "2 `allow 22/tcp` -> `allow 23/tcp` (port 22 moved to 23, which no other rule of web names)",
        ),
        ("web", 9, f"3 `limit {pg} 5432` -> `deny {pg} 5432`"),
        (
            "web",
            9,
            f"3 `limit {pg} 5432` -> `limit {pg} 5433` "
            "(port 5432 moved to 5433, which no other rule of web names)",
        ),
        ("web", 9, "4 `allow ssh` -> `deny ssh`"),
        ("db", 13, "1 `allow 22/tcp` -> `deny 22/tcp`"),
        # 23 is db's own reject: 22 moves past it
        (
            "db",
            13,
            "1 `allow 22/tcp` -> `allow 24/tcp` (port 22 moved to 24, which no other rule of db names)",
        ),
        ("db", 13, "2 `reject 23` -> `allow 23`"),
        ("db", 13, "2 `reject 23` -> `reject 24` (port 23 moved to 24, which no other rule of db names)"),
    ]
    assert found[0].mutation.startswith("host web ufw command 1 ")
    # a named service's port is not a number nslab can move: said, not skipped
    assert [u.words() for u in unmade] == [
        "lab.toml:9: host web ufw command 4 `allow ssh`: "
        "no port mutant: its service 'ssh' names no port number"
    ]
    # each mutant is the lab file with that one command changed (read back by nslab itself)
    for m in found:
        copy = tmp_path / "copy.toml"
        copy.write_text(m.text)
        lab = load_lab(copy)
        changed = [
            (h.name, i)
            for h, was in zip(lab.hosts, load_lab(path).hosts, strict=True)
            for i, (a, b) in enumerate(zip(h.manager.commands, was.manager.commands, strict=True))  # type: ignore[union-attr]
            if a != b
        ]
        assert len(changed) == 1 and changed[0][0] == m.host, (m.mutation, changed)
        assert m.file == path.resolve() and m.manager == "ufw"


def test_ufw_commands_actions_and_ports_are_found_where_ufw_reads_them() -> None:
    c = elements.ufw_command(
        (
            "insert",
            "1",
            "reject",
            "in",
            "on",
            "eth0",
            "proto",
            "tcp",
            "from",
            "any",
            "port",
            "1024:2000",
            "to",
            "any",
            "port",
            "80,443",
        )
    )
    assert c.action == 2
    assert [(p.value, p.source) for p in c.ports] == [("1024:2000", True), ("80", False), ("443", False)]
    assert elements.ufw_command(("route", "allow", "80/tcp")).action == 1
    assert elements.ufw_command(("allow", "log", "80,443/tcp")).ports[1].value == "443"
    assert elements.ufw_command(("allow", "OpenSSH")).unread.startswith(
        "no port mutant: its service 'OpenSSH'"
    )
    assert "app profile 'Apache'" in elements.ufw_command(("allow", "to", "any", "app", "Apache")).unread
    assert elements.ufw_command(("logging", "on")).action is None
    assert elements.ufw_command(("delete", "allow", "22")).unread.startswith("no mutant: a delete")


# --- ufw's user.rules ----------------------------------------------------------------------------------


def _ports_agree(text: str) -> None:
    """In every block, the tuple's DPORT and SPORT are the ports of each of its lines."""
    blocks, unread = elements.ufw_blocks(text)
    lines = text.splitlines()
    assert not unread
    for b in blocks:
        for field, flag in ((b.fields[2], "--dport"), (b.fields[4], "--sport")):
            for i in b.rules:
                said = re.search(rf"{flag}s? (\S+)", lines[i])
                if field == "any":
                    assert said is None, lines[i]
                else:
                    assert said is not None and said[1] == field, (b.fields, lines[i])


def test_user_rules_blocks_are_turned_and_moved_in_their_tuple_and_lines_alike(tmp_path: Path) -> None:
    folder = tmp_path / "web-ufw"
    shutil.copytree(UFW, folder)
    path = _lab(tmp_path, '"web-ufw"', 'firewalld = "web-ufw"')
    found, unmade = of_lab(load_lab(path), path)
    ufw = [m for m in found if m.manager == "ufw"]
    by = {(m.name, m.line, m.mutation.split(": ", 1)[1]): m for m in ufw}
    original = (UFW / "user.rules").read_text()
    for m in ufw:  # every line keeps its number; the ports of tuple and lines agree
        assert len(m.text.splitlines()) == len((UFW / m.name.split("/")[-1]).read_text().splitlines())
        _ports_agree(m.text)
    limit = by[("web-ufw/user.rules", 30, "limit -> deny")].text.splitlines()
    assert limit[29:33] == [
        "### tuple ### deny tcp 2222 0.0.0.0/0 any 0.0.0.0/0 in",
        "",
        "",
        "-A ufw-user-input -p tcp --dport 2222 -j DROP",
    ]
    reject = by[("web-ufw/user.rules", 27, "reject -> allow")].text.splitlines()
    assert reject[27] == "-A ufw-user-input -p tcp --dport 25 -j ACCEPT"
    logged = by[("web-ufw/user.rules", 35, "allow -> deny")].text.splitlines()
    assert logged[34] == "### tuple ### deny_log udp 53 0.0.0.0/0 any 0.0.0.0/0 in"
    assert '"[UFW BLOCK] "' in logged[35] and logged[38].endswith("-j DROP")
    route = by[("web-ufw/user.rules", 53, "allow -> deny")].text.splitlines()
    assert route[52].startswith("### tuple ### route:deny tcp 8443")
    # the comment stays; a multiport item moves on its own; a range moves whole, past 2222
    out = by[("web-ufw/user.rules", 56, "deny -> allow")].text.splitlines()
    assert out[55].endswith("out comment=6e6f206d61696c206f7574")
    multi = by[("web-ufw/user.rules", 44, "port 443 -> 444 (a port no other rule of web names)")]
    assert "-m multiport --dports 80,444 -m multiport --sports 1024:2000 -j ACCEPT" in multi.text
    assert ("web-ufw/user.rules", 44, "port 1024:2000 -> 2223:3199 (a port no other rule of web names)") in by
    assert [m for m in ufw if m.name.endswith("user6.rules")], "user6.rules has mutants too"
    # the app profile's rule: turned, its port (the profile's) not moved, and said
    assert ("web-ufw/user.rules", 50, "allow -> deny") in by
    assert not [k for k in by if k[:2] == ("web-ufw/user.rules", 50) and "port" in k[2]]
    app = "web-ufw/user.rules:50: rule `allow tcp 22 0.0.0.0/0 any 0.0.0.0/0 OpenSSH - in`: "
    assert app + "no port mutant: an app profile's rule, its ports are the profile's" in [
        u.words() for u in unmade
    ]
    assert original == (UFW / "user.rules").read_text()  # the user's file untouched


def test_the_packages_own_user_rules_has_no_rule_and_no_mutant() -> None:
    shipped = Path("/usr/share/ufw/iptables/user.rules")
    if not shipped.is_file():
        pytest.skip("ufw is not installed (apt-get install ufw)")
    assert elements.ufw_blocks(shipped.read_text()) == ([], [])


def test_a_tuple_ufw_would_skip_is_said() -> None:
    blocks, unread = elements.ufw_blocks(
        "### tuple ### allow tcp 22\n-A ufw-user-input -p tcp --dport 22 -j ACCEPT\n"
    )
    assert blocks == [] and unread == [(1, "no mutant: 3 fields, which ufw skips (it reads 6 to 9)")]


# --- firewalld zones and policies --------------------------------------------------------------------

ZONE = """<?xml version="1.0" encoding="utf-8"?>
<zone target="default">
  <short>Public</short>
  <service name="ssh"/>
  <port port="8443" protocol="tcp"/>
  <rule family="ipv4">
    <source address="10.0.0.0/8"/>
    <service name="http"/>
    <log prefix="web " level="info"><limit value="1/m"/></log>
    <accept/>
  </rule>
  <forward-port port="80" protocol="tcp" to-port="8080"/>
  <source address="192.0.2.0/24"/>
  <masquerade/>
  <interface name="eth1"/>
</zone>
"""


def test_each_firewalld_zone_element_is_removed_on_its_own(tmp_path: Path) -> None:
    folder = tmp_path / "gw"
    (folder / "zones").mkdir(parents=True)
    (folder / "policies").mkdir()
    (folder / "zones" / "public.xml").write_text(ZONE)
    (folder / "zones" / "broken.xml").write_text("<zone>\n  <port port='1'>\n</zone>\n")
    shutil.copy(Path(__file__).parent / "test_manager_mutants.py", folder / "policies" / "not-xml.txt")
    path = _lab(tmp_path, '["allow 22/tcp"]', 'firewalld = "gw"')
    found, unmade = of_lab(load_lab(path), path)
    zone = [m for m in found if m.manager == "firewalld"]
    assert [(m.name, m.line, m.mutation) for m in zone] == [
        ("gw/zones/public.xml", 4, '<service name="ssh"/> removed'),
        ("gw/zones/public.xml", 5, '<port port="8443" protocol="tcp"/> removed'),
        (
            "gw/zones/public.xml",
            6,
            'rich rule "rule family="ipv4" source address="10.0.0.0/8" service name="http" '
            'log prefix="web " level="info" limit value="1/m" accept" removed',
        ),
        ("gw/zones/public.xml", 12, '<forward-port port="80" protocol="tcp" to-port="8080"/> removed'),
        ("gw/zones/public.xml", 13, '<source address="192.0.2.0/24"/> removed'),
        ("gw/zones/public.xml", 14, "<masquerade/> removed"),
        ("gw/zones/public.xml", 15, '<interface name="eth1"/> removed'),
    ]
    lines = ZONE.splitlines()
    rich = zone[2].text.splitlines()
    assert len(rich) == len(lines) and [x.strip() for x in rich[5:11]] == [""] * 6 and rich[11] == lines[11]
    assert zone[1].element == '<port port="8443" protocol="tcp"/>' and zone[1].host == "db"
    # a file firewalld cannot read is said, never skipped silently
    assert [u.words() for u in unmade if u.name.endswith("broken.xml")] == [
        "gw/zones/broken.xml:0: its elements: no mutant: not well-formed XML (line 3: mismatched tag), "
        "which firewalld refuses too"
    ]


def test_firewalld_shipped_zones_and_policies_give_mutants_without_error(tmp_path: Path) -> None:
    shipped = Path("/usr/lib/firewalld")
    if not (shipped / "zones").is_dir():
        pytest.skip("firewalld is not installed (apt-get install firewalld)")
    count = 0
    for f in [*sorted((shipped / "zones").glob("*.xml")), *sorted((shipped / "policies").glob("*.xml"))]:
        text = f.read_text()
        for e in elements.zone_elements(text):
            part = text[e.start : e.end]
            assert (
                part.startswith(f"<{e.tag}")
                and part.endswith(">")
                and e.line == text.count("\n", 0, e.start) + 1
            )
            count += 1
    assert count >= 20  # public's ssh, allow-host-ipv6's rich rules, libvirt's services ...
    # the package's files as a lab's folder: a mutant each, nothing unmade
    for sub in ("zones", "policies"):
        shutil.copytree(shipped / sub, tmp_path / "gw" / sub)
    path = _lab(tmp_path, '["allow 22/tcp"]', 'firewalld = "gw"')
    found, unmade = of_lab(load_lab(path), path)
    assert len([m for m in found if m.manager == "firewalld"]) == count and unmade == []


# --- the report -----------------------------------------------------------------------------------------


def test_the_report_says_each_rule_not_mutated_and_json_names_host_and_manager(tmp_path: Path) -> None:
    path = _lab(tmp_path, '["allow ssh"]', 'ufw = ["allow 22/tcp"]')
    found, unmade = of_lab(load_lab(path), path)
    results = [
        MutantResult(found[0], "survived", "1 passing scenario ran, none turned red"),
        *(MutantResult.unmade(u) for u in unmade),
    ]
    lines = text_report(results)
    assert lines == [
        "lab.toml:9: host web ufw command 1 `allow ssh` -> `deny ssh` turns no scenario red "
        "(1 passing scenario ran, none turned red)",
        "lab.toml:9: host web ufw command 1 `allow ssh`: "
        "no port mutant: its service 'ssh' names no port number",
        "mutation score: 0 of 1 mutants killed",
    ]
    got = json.loads(as_json(results))
    assert got[0] == {
        "file": "lab.toml",
        "line": 9,
        "mutation": "host web ufw command 1 `allow ssh` -> `deny ssh`",
        "status": "survived",
        "why": "1 passing scenario ran, none turned red",
        "host": "web",
        "manager": "ufw",
    }
    assert got[1]["status"] == "unmade"


def test_a_build_the_manager_refused_is_read_from_behaves_json(tmp_path: Path) -> None:
    """The error behave's JSON formatter kept when a mutant's user.rules had `-j NOSUCH`
    (measured): the managers stage's summary, and ufw's own line, leads."""
    error = [
        "ASSERT FAILED: u: `ufw --force enable` failed: ERROR: problem running ufw-init (fix: the host's "
        "firewall = { ufw = [...] } in the lab file); from `bash provision/run.sh 10-sysctl.sh "
        "20-networks.sh "
        "56-managers.sh` exited 1:",
        "  nslab: u: `ufw --force enable` failed: ERROR: problem running ufw-init (fix: the host's "
        "firewall = "
        "{ ufw = [...] } in the lab file)",
        "  nslab: managers: no manager started on u",
        "  nslab: provision stage 56-managers.sh failed",
    ]
    report = tmp_path / "behave.json"
    step = {"result": {"status": "failed", "error_message": error}}
    other = {
        "result": {"status": "failed", "error_message": ["Assertion Failed: the connection was dropped"]}
    }
    report.write_text(
        json.dumps(
            [
                {
                    "elements": [
                        {"location": "f.feature:6", "steps": [step]},
                        {"location": "f.feature:9", "steps": [other]},
                    ]
                }
            ]
        )
    )
    assert refused(report, "f.feature:6") == "u: `ufw --force enable` failed: ERROR: problem running ufw-init"
    assert refused(report, "f.feature:9") is None  # a red scenario: a kill


def test_ufws_parser_refuses_a_command_and_passes_the_others() -> None:
    if shutil.which("ufw") is None:
        pytest.skip("ufw is not installed (apt-get install ufw)")
    said = ufw.ufw_refusals([(0, ["allow", "22/tcp"]), (3, ["allow", "99999/tcp"])])
    assert said == {3: "ufw refuses `ufw allow 99999/tcp`: Bad port"}


def test_the_managers_lab_of_the_features_gets_mutants() -> None:
    lab = ROOT / "features" / "managers" / "labs" / "managers.toml"
    found, unmade = of_lab(load_lab(lab), lab)
    assert [m.words() for m in found] == [
        "managers.toml:25: host web ufw command 1 `default deny incoming` -> `default allow incoming`",
        "managers.toml:25: host web ufw command 2 `allow 22/tcp` -> `deny 22/tcp`",
        "managers.toml:25: host web ufw command 2 `allow 22/tcp` -> `allow 23/tcp` "
        "(port 22 moved to 23, which no other rule of web names)",
        'gw-firewalld/zones/public.xml:5: <service name="ssh"/> removed',
        'gw-firewalld/zones/public.xml:6: <port protocol="tcp" port="8443"/> removed',
    ] and unmade == []


def test_a_ufw_command_that_is_no_rule_is_said_at_its_line(tmp_path: Path) -> None:
    path = _lab(tmp_path, '[\n  "allow 22/tcp",\n  "logging on",\n]', 'ufw = ["allow 80"]')
    found, unmade = of_lab(load_lab(path), path)
    assert [u.words() for u in unmade] == [
        "lab.toml:11: host web ufw command 2 `logging on`: "
        "no mutant: not a rule (no allow, deny, reject or limit)"
    ]
    assert [(m.line, m.host) for m in found] == [(10, "web"), (10, "web"), (16, "db"), (16, "db")]


def test_a_command_another_host_also_has_is_said_at_its_own_hosts_line(tmp_path: Path) -> None:
    """The second host's `logging on` was said at the first host's line (the first string of
    the same words in the file), in a report that names the second host."""
    path = _lab(tmp_path, '["logging on"]', 'ufw = ["logging on"]')
    _, unmade = of_lab(load_lab(path), path)
    assert [u.words().split(": host ")[0] for u in unmade] == ["lab.toml:9", "lab.toml:13"]


def test_a_folder_two_hosts_share_is_mutated_once_naming_both(tmp_path: Path) -> None:
    (tmp_path / "fw" / "zones").mkdir(parents=True)
    (tmp_path / "fw" / "zones" / "public.xml").write_text(ZONE)
    path = tmp_path / "lab.toml"
    path.write_text(LAB.format(web='"x"', db='firewalld = "fw"').replace('ufw = "x"', 'firewalld = "fw"'))
    found, unmade = of_lab(load_lab(path), path)
    assert len(found) == len(elements.zone_elements(ZONE)) == 7 and unmade == []
    assert {m.host for m in found} == {"web, db"}


def test_a_survivors_why_gives_the_hits_coverage_counted_for_its_element(tmp_path: Path) -> None:
    """Where rule coverage names a zone element or a user.rules tuple by its line, a manager
    mutant's survivor says how often the rule matched, as a ruleset file's does."""
    (tmp_path / "fw" / "zones").mkdir(parents=True)
    (tmp_path / "fw" / "zones" / "public.xml").write_text(ZONE)
    shutil.copytree(UFW, tmp_path / "web-ufw")
    path = _lab(tmp_path, '"web-ufw"', 'firewalld = "fw"')
    found, _ = of_lab(load_lab(path), path)
    port = next(m for m in found if m.element == '<port port="8443" protocol="tcp"/>')
    tuple22 = next(m for m in found if m.manager == "ufw" and m.line == 20)
    base = Baseline(["f:3", "f:9"], [], counted=True)
    base.hits = {(port.file.resolve(), 5): 0, (tuple22.file.resolve(), 20): 7}
    survived = Mutator._survived  # it reads the baseline and the mutant only
    assert survived(cast(Mutator, None), base, port, 2) == (
        "2 passing scenarios ran, none turned red; the rule matched none of their packets unmutated"
    )
    assert survived(cast(Mutator, None), base, tuple22, 2).endswith(
        "the rule matched 7 of their packets unmutated"
    )
