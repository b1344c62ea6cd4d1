"""Rule coverage through the firewall managers (nslab.coverage.ufw, .firewalld): hits
mapped back to what the user wrote, ufw's commands of the lab file, a ufw folder's
user.rules tuples and a firewalld zone file's elements; the managers' own rules per chain,
outside the percentage; what nslab cannot map said, never guessed; nslab's own traffic (the
tracer's loopback marks, IPv6 housekeeping) never counted. Real ufw and firewalld in worlds.

    client ---- br-lan ---- web (ufw commands), nas (ufw folder), gw (firewalld)
                            (tests/labs/mgrcov.toml, tests/features/manager-coverage.feature)
"""

from __future__ import annotations

import json
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

from conftest import HERE_FEATURES, needs_netns, run_behave, run_feature
from test_manager_world import machine, needs_managers
from test_rule_coverage_honest import GOLDEN, NSLAB, project

FEATURE = HERE_FEATURES / "manager-coverage.feature"


def _file(found: list[dict[str, Any]], place: str, *, own: bool = False) -> dict[str, Any]:
    (f,) = [f for f in found if f["place"] == place and bool(f.get("own")) == own]
    return f


@needs_netns
@needs_managers
def test_rule_coverage_names_what_the_user_wrote_in_each_manager(tmp_path: Path) -> None:
    before = machine()
    r = run_feature(FEATURE, tmp_path)
    out = r.stdout + r.stderr
    assert r.returncode == 0, out[-3000:]
    # web's ufw list: `allow 8080/tcp` (line 26 of the lab file) no scenario probes;
    # `default deny incoming` is INPUT's policy, which port 23's probe met; `logging off`
    # makes no rule, so it is not one to cover
    assert (
        "rule coverage: mgrcov.toml (web, ufw) 2/3 rules (67%); never matched: line 26 (allow 8080/tcp)\n"
        in out
    )
    # nas's folder: each tuple at its line of user.rules; the rule with no tuple said so
    assert (
        "rule coverage: mgrcov-ufw/user.rules (nas, ufw) 1/2 rules (50%); never matched: line 23 "
        "(allow tcp 2223 0.0.0.0/0 any 0.0.0.0/0 in); line 26 not counted: no `### tuple ###` "
        "above it: ufw keeps no map for it\n"
    ) in out
    # nas's own before.rules (laid over the package's): the user's, each rule at its line
    assert "rule coverage: mgrcov-ufw/before.rules (nas, ufw) 2/6 rules (33%); never matched: line 7 " in out
    # gw's zone file: its elements by line; the rich rule with a log nslab cannot identify
    assert (
        "rule coverage: mgrcov-firewalld/zones/public.xml (gw, firewalld) 2/5 elements (40%); "
        "never matched: line 4 (service ssh), line 6 (port 9443/tcp), line 18 (protocol gre); line 12 "
        "not counted: nslab cannot tell which rule firewalld made of it; line 19 not counted: nslab "
        "does not map a <icmp-block> to its rules\n"
    ) in out
    # a policy's elements: nslab does not map them, and says so (no percentage)
    assert (
        "rule coverage: mgrcov-firewalld/policies/host-out.xml (gw, firewalld) not measured: nslab "
        "does not map a policy's elements to the rules firewalld writes of them\n"
    ) in out
    assert "rule coverage: ufw's own rules (web), not the lab's, per chain (not in the percentage): " in out
    assert (
        "rule coverage: firewalld's own rules (gw), not the lab's, per chain (not in the percentage): " in out
    )

    found = json.loads((tmp_path / "rule-coverage.json").read_text())
    web = _file(found, "web")
    assert (web["kind"], web["manager"], web["file"]) == ("ufw", "ufw", "mgrcov.toml")
    assert [(x["line"], x["rule"], bool(x["hits"])) for x in web["rules"]] == [
        (24, "default deny incoming", True),
        (25, "allow 22/tcp", True),
        (26, "allow 8080/tcp", False),
    ]
    (gw,) = [f for f in found if f["place"] == "gw" and f["file"].endswith("public.xml")]
    assert [(x["line"], x["rule"], x["hits"]) for x in gw["rules"]] == [
        (4, "service ssh", 0),
        (5, "port 8443/tcp", 1),
        (6, "port 9443/tcp", 0),
        (7, "rich rule family=ipv4", 1),
        (12, "rich rule family=ipv4", None),
        (18, "protocol gre", 0),
        (19, "icmp-block timestamp-request", None),
    ]
    # nslab's own traffic: the tracer's loopback marks (every probe of a lab with a firewalld
    # host is traced, on ufw's hosts too) reach ufw's `-i lo -j ACCEPT`; counted apart
    (laid,) = [f for f in found if f["file"] == "mgrcov-ufw/before.rules"]
    assert [(x["line"], x["rule"], bool(x["hits"])) for x in laid["rules"]] == [
        (7, "-i lo -j ACCEPT", False),  # the marks went over nas's loopback: nslab's own
        (9, "-m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT", True),
        (11, "-p icmp --icmp-type echo-request -j ACCEPT", False),
        (12, "-p tcp --dport 2225 -j ACCEPT", False),
        (8, "-o lo -j ACCEPT", False),
        (10, "-m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT", True),
    ]
    for host in ("web", "nas"):
        own = _file(found, host, own=True)
        assert own["manager"] == "ufw"
        lo = [x for x in (*own["rules"], *laid["rules"]) if x["rule"].endswith("-i lo -j ACCEPT")]
        assert lo and all(x["hits"] == 0 for x in lo), lo
        # and IPv6 housekeeping (router solicitations, MLD from link-local addresses) too
        v6 = [x for x in own["rules"] if "in table ip6 filter" in x["rule"] and x["hits"]]
        assert not v6, v6
    # the percentage is the user's rules only: the Cobertura file has no manager's own
    cobertura = ET.parse(tmp_path / "rule-coverage.xml").getroot()
    assert (cobertura.get("lines-covered"), cobertura.get("lines-valid")) == ("7", "16")
    names = sorted(c.get("name", "") for c in cobertura.iter("class"))
    assert names == [
        "mgrcov-firewalld/zones/public.xml (gw)",
        "mgrcov-ufw/before.rules (nas)",
        "mgrcov-ufw/user.rules (nas)",
        "mgrcov.toml (web)",
    ]
    assert machine() == before


@needs_netns
@needs_managers
def test_the_golden_steps_exploration_covers_no_ufw_rule(tmp_path: Path) -> None:
    """The golden-file step's exploration probes web's ufw ports (port 80, which `allow
    80/tcp` accepts, and others its default drops): nslab's traffic, counted for no rule;
    the scenario is recorded as one that explored them (nslab mutate runs it)."""
    proj = project(tmp_path, "", GOLDEN)
    lab = proj / "labs" / "lab.toml"
    text = lab.read_text()
    assert 'firewall = { nft = "web.nft" }' in text
    ufw = 'firewall = { ufw = ["default deny incoming", "allow 80/tcp"] }'
    lab.write_text(text.replace('firewall = { nft = "web.nft" }', ufw))
    recorded = subprocess.run(
        [*NSLAB, "explore", "--lab", "labs/lab.toml", "--record", "features/lab.reach"],
        cwd=proj, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert recorded.returncode == 0, recorded.stderr
    assert "web tcp/80 v4 accepted" in (proj / "features" / "lab.reach").read_text()
    run = run_behave("features/", "--no-junit", "-D", "html=", cwd=proj)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-2000:]
    found = _file(json.loads((proj / "reports" / "rule-coverage.json").read_text()), "web")
    assert [(r["rule"], r["hits"]) for r in found["rules"]] == [
        ("default deny incoming", 0),
        ("allow 80/tcp", 0),
    ]
    assert found["scenarios"] == [] and found["explored_by"] == ["features/test.feature:2"]
    assert (
        "rule coverage: lab.toml (web, ufw) 0/2 rules (0%); never matched: line 22 (default deny "
        "incoming), line 22 (allow 80/tcp)\n"
    ) in run.stderr


@needs_netns
@needs_managers
def test_a_ufw_reload_leaves_what_matched_before_it_unknown_not_unmatched(tmp_path: Path) -> None:
    """`ufw reload` restores ufw's chains: counters restart, nslab's counting rules go.
    `allow 22/tcp` matched before it: unknown (the packets are gone), never "never
    matched"; `default deny incoming` matched after it: counted."""
    r = run_feature(HERE_FEATURES / "manager-coverage-reload.feature", tmp_path)
    out = r.stdout + r.stderr
    assert r.returncode == 0, out[-3000:]
    web = _file(json.loads((tmp_path / "rule-coverage.json").read_text()), "web")
    got = [(x["rule"], x["hits"]) for x in web["rules"]]
    assert got == [("default deny incoming", 1), ("allow 22/tcp", None)]
    assert "ufw reloaded its rules in a scenario (ufw reload, enable)" in web["note"]
    assert "rule coverage: ufw-only.toml (web, ufw) 1/1 rules (100%); ufw reloaded its rules" in out


@needs_netns
@needs_managers
def test_the_tracers_marks_cover_no_rule_of_a_ruleset_file_beside_firewalld(tmp_path: Path) -> None:
    """A firewalld host makes every probe of its lab traced; the tracer pings loopback in
    every traced place, fw's and nf's too: nslab's traffic, not a hit of their loopback
    rules (`-i lo -j ACCEPT`, `iif lo accept`)."""
    r = run_feature(HERE_FEATURES / "manager-coverage-marks.feature", tmp_path)
    out = r.stdout + r.stderr
    assert r.returncode == 0, out[-3000:]
    found = json.loads((tmp_path / "rule-coverage.json").read_text())
    (fw,) = [f for f in found if f["place"] == "fw"]
    assert [(x["line"], bool(x["hits"])) for x in fw["rules"]] == [(5, False), (6, True), (7, True)]
    (nf,) = [f for f in found if f["place"] == "nf"]  # nft's own counting rules (nslab-loop)
    assert [(x["line"], bool(x["hits"])) for x in nf["rules"]] == [(4, False), (5, True), (6, True)]
    assert "rule coverage: mgrcov-nf.nft (nf) 2/3 rules (67%); never matched: line 4 (iif lo accept)\n" in out
    assert (
        "rule coverage: mgrcov-fw.rules (fw) 2/3 rules (67%); never matched: line 5 (-i lo -j ACCEPT)\n"
        in out
    )
