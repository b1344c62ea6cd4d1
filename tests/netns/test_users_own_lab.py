"""Every command and step for every lab: what a user of their own (routed, dual-stack) lab
met that the seed lab never showed, each checked as the user meets it."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import tomllib
from conftest import (
    HERE_FEATURES,
    ROOT,
    SEED_STORY,
    count_scenarios,
    host_snapshot,
    needs_netns,
    run_behave,
    run_feature,
)

from nslab.errors import LabError
from nslab.lab.tables import read_lab

NSLAB = [sys.executable, "-m", "nslab.cli"]


def test_a_host_without_ipv6_is_named_as_such() -> None:
    raw = tomllib.loads((ROOT / "tests" / "labs" / "v6out.toml").read_text())
    raw["host"].append({"name": "db", "interfaces": [{"network": "lan", "address": "10.40.0.20"}]})
    lab = read_lab(raw, ROOT / "tests" / "labs")
    with pytest.raises(LabError, match=r"db has no IPv6 address in lab 'v6out' \(fix: probe it over IPv4"):
        lab.resolve("db", v6=True)
    assert str(lab.resolve("db")) == "10.40.0.20"


@needs_netns
def test_a_lab_tag_naming_no_file_is_one_line(tmp_path: Path) -> None:
    r = run_feature(HERE_FEATURES / "unknown-lab-tag.feature", tmp_path)
    assert r.returncode == 1 and "TypeError" not in r.stdout + r.stderr
    assert "@lab:nosuchlab: no labs/nosuchlab.toml beside the feature or above it" in r.stdout


@needs_netns
def test_up_status_and_diagram_use_the_projects_lab_and_its_own_stages(tmp_path: Path) -> None:
    """`[tool.nslab] lab` of the project, not the seed lab; its stages printed, saved and
    offered to --upto; status in both families."""
    before = host_snapshot()
    r = subprocess.run([*NSLAB, "init", "proj"], cwd=tmp_path, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    proj = tmp_path / "proj"
    env = {**os.environ, "NSLAB_STATE": str(tmp_path / "lab.json")}

    def nslab(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*NSLAB, *args], cwd=proj, env=env, capture_output=True, text=True, timeout=120)

    bad = nslab("up", "--upto", "gateway")  # a seed stage: not one of this lab's
    assert bad.returncode == 1
    assert bad.stderr.strip().startswith("nslab: lab 'mylab' has no gateway stage: it has no network whose")
    assert bad.stderr.strip().endswith("its stages are sysctl, networks, upstream, rulesets, dns)")
    up = nslab("up")
    try:
        assert up.returncode == 0, up.stderr
        assert "building lab 'mylab': sysctl, networks, upstream, rulesets, dns" in up.stderr
        status = nslab("status")
        assert "stages: sysctl, networks, upstream, rulesets, dns" in status.stdout
        assert "pc       eth0 10.1.0.10/24 2001:db8:1::10/64" in status.stdout, status.stdout
        assert "fe80:" not in status.stdout
        drawn = nslab("diagram", "--detail", "-o", str(tmp_path / "lab.mmd"))  # bridges: the plumbing
        assert drawn.returncode == 0, drawn.stderr
        text = (tmp_path / "lab.mmd").read_text()
        assert "br-lan" in text and "br0" not in text  # the project's lab, not the seed's
    finally:
        down = nslab("down")
    assert down.returncode == 0
    assert host_snapshot() == before


def test_nslabs_own_neighbour_discovery_rules_never_decide_a_verdict() -> None:
    """The host's ND ACCEPT rules count every IPv6 probe's neighbour discovery: housekeeping,
    never listed beside the user's rule (a user's router keeps every rule it has)."""
    from nslab.firewall.evidence import decisions
    from nslab.firewall.iptables_parse import iptables_save

    nd = "-A FORWARD -p ipv6-icmp -m icmp6 --icmpv6-type {} -j ACCEPT"
    rules = "*filter\n:FORWARD DROP [0:0]\n{a} " + nd.format(135) + "\n{a} " + nd.format(136) + "\n"
    rules += "{b} -A FORWARD -p tcp -m tcp --dport 443 -j ACCEPT\nCOMMIT\n"
    before = iptables_save(rules.format(a="[0:0]", b="[0:0]"))
    after = iptables_save(rules.format(a="[1:72]", b="[3:180]"))
    on_host = [d.describe() for d in decisions({"host": before}, {"host": after})]
    assert on_host == ["accepted by FORWARD rule 3 (-p tcp -m tcp --dport 443 -j ACCEPT) (+3 packets)"]
    on_router = decisions({"edge": before}, {"edge": after})
    assert len(on_router) == 3  # a user's own identical rules are the user's


@needs_netns
def test_conntrack_steps_find_ipv6_flows_and_skip_without_conntrack(tmp_path: Path) -> None:
    feature = HERE_FEATURES / "conntrack-both-families.feature"
    r = run_feature(feature, tmp_path)
    assert "2 scenarios passed, 0 failed, 0 skipped" in r.stdout, r.stdout[-3000:]
    # the same feature where the conntrack tool is missing: skipped with the reason, not failed
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for folder in ("/usr/sbin", "/usr/bin", "/sbin", "/bin"):
        for tool in Path(folder).iterdir():
            if tool.name != "conntrack" and not (bin_dir / tool.name).exists():
                (bin_dir / tool.name).symlink_to(tool)
    env = {**os.environ, "PATH": str(bin_dir)}
    argv = [sys.executable, "-m", "behave", str(feature), "-D", f"reports={tmp_path}", "-D", "html="]
    r = subprocess.run([*argv, "--no-junit"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout[-3000:]
    assert "0 scenarios passed, 0 failed, 2 skipped" in r.stdout, r.stdout[-3000:]
    said = "this scenario needs conntrack, which local lacks (apt-get install conntrack)"
    assert r.stderr.count(said) == 1, r.stderr  # said once, not per scenario


def _clusters(dot: str) -> dict[str, str]:
    """Each `subgraph cluster_...` block of Graphviz source, by its name."""
    out: dict[str, str] = {}
    for block in dot.split("subgraph ")[1:]:
        name, body = block.split(" {", 1)
        out[name] = body.split("\n\t}", 1)[0]
    return out


def test_the_diagram_draws_each_firewall_in_its_own_place() -> None:
    from nslab.lab import default_lab, load_lab
    from nslab.report import diagram

    dmz = load_lab(ROOT / "labs" / "dmz.toml")
    routed = _clusters(diagram.to_dot(dmz, diagram.expected(dmz)))
    assert "label=host " in routed["cluster_n_host"]  # this host neither filters nor translates
    assert "firewall_" not in routed["cluster_n_host"]
    assert 'firewall_n_edge [label="nft dmz-edge.nft"' in routed["cluster_n_edge"]
    seed = default_lab()
    drawn = _clusters(diagram.to_dot(seed, diagram.expected(seed)))
    assert 'label="host (FORWARD, NAT)"' in drawn["cluster_n_host"]
    assert "FORWARD (policy DROP) -j NAVY" in drawn["cluster_n_host"]


@needs_netns
def test_a_routed_failures_diagnostics_hold_the_deciding_routers_ruleset_first(tmp_path: Path) -> None:
    page = tmp_path / "index.html"
    feature = str(HERE_FEATURES / "dmz-wrong.feature")
    argv = [sys.executable, "-m", "behave", feature, "-D", f"reports={tmp_path}", "-D", f"html={page}"]
    r = subprocess.run([*argv, "--no-junit"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert r.returncode == 1
    (bundle,) = (tmp_path / "diagnostics").glob("*.txt")
    text = bundle.read_text()
    assert "===== [edge] rules and counters  ($ nft list ruleset) =====" in text
    assert 'iifname "eth0" oifname "eth1" tcp dport { 443, 5432 } counter packets' in text
    assert "===== [host] rules and counters  ($ ip6tables-save -c) =====" in text
    places = re.findall(r"<summary>([^<]+)</summary>", page.read_text())
    assert places[:2] == ["the probe", "edge"], places  # the deciding router first


@needs_netns
def test_status_reads_the_lab_that_is_up_wherever_it_runs(tmp_path: Path) -> None:
    """A seed lab brought up outside any project stays the seed lab for `status` run inside
    a project whose [tool.nslab] names another lab."""
    r = subprocess.run([*NSLAB, "init", "proj"], cwd=tmp_path, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    env = {**os.environ, "NSLAB_STATE": str(tmp_path / "lab.json")}
    outside = tmp_path / "outside"
    outside.mkdir()
    assert subprocess.run([*NSLAB, "up"], cwd=outside, env=env, capture_output=True).returncode == 0
    try:
        status = subprocess.run(
            [*NSLAB, "status"], cwd=tmp_path / "proj", env=env, capture_output=True, text=True, timeout=60
        )
        assert "lab 'seed' is up" in status.stdout, status.stdout + status.stderr
    finally:
        subprocess.run([*NSLAB, "down"], cwd=outside, env=env, capture_output=True)


@needs_netns
@pytest.mark.slow  # the seed story whole, and Docker on the seed's host
def test_the_seed_story_runs_on_the_seed_lab_written_in_the_other_notation(tmp_path: Path) -> None:
    """The seed's file shape is a notation, not a second model: every scenario of features/
    on the default lab passes on tests/labs/seed-v2.toml (a network whose gateway is the
    host, hosts with one interface, a chain on the host) as on labs/seed.toml (where every
    one passes, none skipped: tests/netns/test_seed_features.py), @seed-literal ones too.
    (A feature tagged @lab runs on its own lab whatever -D lab says: not run here.)"""
    features = sorted((ROOT / "features").rglob("*.feature"))
    on_default = [str(f.relative_to(ROOT)) for f in features if "@lab" not in f.read_text()]
    assert len(on_default) > len(SEED_STORY)  # the story's own, and Docker on the seed's host
    other = run_behave(
        *on_default, "-D", f"lab={ROOT / 'tests' / 'labs' / 'seed-v2.toml'}",
        "-D", f"reports={tmp_path / 'b'}", "-D", "html=", "--no-junit",
    )  # fmt: skip
    counts = re.compile(r"^\d+ scenarios passed, \d+ failed, \d+ skipped.*$", re.M)
    assert other.returncode == 0, other.stdout[-3000:]
    want = f"{count_scenarios(*on_default)} scenarios passed, 0 failed, 0 skipped"
    assert counts.findall(other.stdout) == [want], other.stdout[-2000:]
