"""Every example Debian's nftables package ships (tests/data/corpus/debian-nftables/, GPL-2,
nftables 1.0.6-2+deb12u2), loaded as a lab host's ruleset: each file either loads, or
nslab says which line does not load and why; each reason is then checked by giving the
file what it lacked (an interface, its sibling files) and seeing it load or stop at the
next reason. The files that load are built together in one lab (one host each), their
rules mapped for rule coverage, and a few flows to the workstation example measured.

The expected outcomes are read from the files by hand, not from what nslab printed."""

from __future__ import annotations

import contextlib
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

import pytest
from conftest import DATA, host_snapshot, needs_netns
from support.labs import provisioned

from nslab.machine.targets.local import LocalTarget
from nslab.machine.world import World
from nslab.scenario.session import LabSession

pytestmark = [needs_netns, pytest.mark.netns]

CORPUS = DATA / "corpus" / "debian-nftables"
# a router with one LAN (both families) and the internet behind it; its ruleset is the example
LAB = """[lab]
name = "example"
[firewall]
backend = "nftables"
[[network]]
name = "lan"
subnet = "10.40.0.0/24"
subnet6 = "2001:db8:40::/64"
[[host]]
name = "gw"
router = true
interfaces = [{ network = "lan", address = "10.40.0.1", address6 = "2001:db8:40::1" }]
firewall = { nft = "example.nft" }
[[host]]
name = "laptop"
interfaces = [{ network = "lan", address = "10.40.0.10", address6 = "2001:db8:40::10" }]
routes = ["default via 10.40.0.1", "default via 2001:db8:40::1"]
[upstream]
via = "gw"
"""


class Refused(NamedTuple):
    """A file that does not load in a lab: the line nft stops at, its words, and why."""

    line: int
    words: str
    why: str


# Per file: None where it loads in a lab host, else where and why not (read from the file).
EXPECTED: dict[str, Refused | None] = {
    "all-in-one.nft": None,  # its includes (`include "./inet-filter.nft"`) read from its own folder
    "arp-filter.nft": None,
    "bridge-filter.nft": None,
    "ct_helpers.nft": None,  # the ftp, sip and tftp helpers are in every Debian kernel
    "inet-filter.nft": None,
    "inet-nat.nft": None,
    "ipv4-filter.nft": None,
    "ipv4-mangle.nft": None,
    "ipv4-nat.nft": None,
    "ipv4-raw.nft": None,
    "ipv6-filter.nft": None,
    "ipv6-mangle.nft": None,
    "ipv6-nat.nft": None,
    "ipv6-raw.nft": None,
    "load_balancing.nft": Refused(
        48,
        "interface `eth1` does not exist on this host (its interfaces: eth0, uplink0)",
        "`fwd to eth1` (line 48): gw has no eth1 (validate's world has gw's own eth0, no eth1)",
    ),
    "nat.nft": None,  # the maps name 1.1.1.1 and the like: any address loads
    "netdev-ingress.nft": None,  # it hooks lo, which every namespace has
    "overview.nft": Refused(
        23,
        "interface `bond0` does not exist on this host",
        "`iif bond0 oif bond1` is resolved to an interface index when it loads; no host has a bond0",
    ),
    "secmark.nft": Refused(
        14,
        "Could not process rule: No such file or directory",
        "its secmark objects name SELinux contexts; this kernel has no SELinux policy to resolve them",
    ),
    "sets_and_maps.nft": Refused(
        9,
        "interface `eth1` does not exist on this host",
        "`meta iif { eth0, eth1 }` (line 47, through the defines of lines 8-13) needs eth0 to eth3; "
        "validate's world has gw's own interface names, so eth0 (line 8) is found and eth1 (line 9) is not",
    ),
    "workstation.nft": None,
}


def test_the_table_covers_every_example_shipped() -> None:
    assert sorted(p.name for p in CORPUS.glob("*.nft")) == sorted(EXPECTED)
    assert "1.0.6-2+deb12u2" in (CORPUS / "README.md").read_text()  # the package they came from


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_each_example_loads_in_a_lab_host_or_nslab_says_where_not(tmp_path: Path, name: str) -> None:
    for example in CORPUS.glob("*.nft"):  # beside its siblings, as Debian ships them (includes)
        (tmp_path / example.name).write_text(example.read_text())
    (tmp_path / "lab.toml").write_text(LAB.replace("example.nft", name))
    r = subprocess.run(
        [sys.executable, "-m", "nslab.cli", "validate", "lab.toml"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    want = EXPECTED[name]
    if want is None:
        assert r.returncode == 0 and "1 ruleset file(s) loaded in a throwaway world" in r.stdout, r.stderr
        return
    assert r.returncode == 2, r.stdout
    (said,) = r.stderr.strip().splitlines()  # one line
    assert said.startswith(f"nslab: host gw's nft ruleset does not load: {name}: line {want.line}: "), said
    assert want.words in said, said


# --- each reason, checked: given what it lacked, the file loads (or stops at the next reason) ----


@pytest.fixture(scope="module")
def scratch() -> Iterator[World]:
    before = host_snapshot()
    with World.start(LocalTarget()) as w:
        yield w
    assert host_snapshot() == before


def _nft_check(w: World, *args: str) -> tuple[bool, str]:
    r = w.run(["nft", "-c", *args], timeout=30)
    return r.ok, r.output


@contextlib.contextmanager
def _links(w: World, *pairs: tuple[str, str]) -> Iterator[None]:
    """veth pairs in the scratch world's root namespace, named as the example wants them."""
    try:
        for a, b in pairs:
            w.run(["ip", "link", "add", a, "type", "veth", "peer", "name", b], check=True)
        yield
    finally:
        for a, _ in pairs:
            w.run(["ip", "link", "del", a])


def test_all_in_one_loads_where_its_sibling_files_are_found(scratch: World) -> None:
    ok, said = _nft_check(scratch, "-f", str(CORPUS / "all-in-one.nft"))
    assert not ok and "File not found: ./inet-filter.nft" in said
    # nft reads `include "./x"` from where it runs (its -I folders do not count for ./)
    r = scratch.run(["env", "-C", str(CORPUS), "nft", "-c", "-f", "all-in-one.nft"], timeout=30)
    assert r.ok, r.output


def test_overview_loads_where_bond0_and_bond1_exist(scratch: World) -> None:
    with _links(scratch, ("bond0", "bond1")):
        ok, said = _nft_check(scratch, "-f", str(CORPUS / "overview.nft"))
    assert ok, said


def test_load_balancing_with_its_interfaces_stops_at_a_nat_chain_before_conntrack(
    scratch: World, tmp_path: Path
) -> None:
    text = (CORPUS / "load_balancing.nft").read_text()
    with _links(scratch, ("eth0", "eth1")):
        ok, said = _nft_check(scratch, "-f", str(CORPUS / "load_balancing.nft"))
        # the next reason: its nat chain hooks prerouting at -300, before conntrack (-200),
        # and the kernel's NAT needs conntrack's verdict first
        assert not ok and "load_balancing.nft:12:" in said and "Operation not supported" in said, said
        assert "type nat hook prerouting priority -300;" in text
        fixed = tmp_path / "lb.nft"
        fixed.write_text(
            text.replace("type nat hook prerouting priority -300;", "type nat hook prerouting priority -100;")
        )
        ok, said = _nft_check(scratch, "-f", str(fixed))
    assert ok, said


def test_sets_and_maps_with_its_interfaces_stops_at_deleting_a_table_it_never_made(scratch: World) -> None:
    with _links(scratch, ("eth0", "eth1"), ("eth2", "eth3")):
        ok, said = _nft_check(scratch, "-f", str(CORPUS / "sets_and_maps.nft"))
        # the next reason: line 22 `delete table filter` assumes an earlier ruleset made it
        assert not ok and "sets_and_maps.nft:22:" in said and "No such file or directory" in said, said
        scratch.run(["nft", "add", "table", "ip", "filter"], check=True)
        try:
            ok, said = _nft_check(scratch, "-f", str(CORPUS / "sets_and_maps.nft"))
        finally:
            scratch.run(["nft", "delete", "table", "ip", "filter"])
    assert ok, said


def test_secmark_needs_selinux_which_this_kernel_lacks(scratch: World, tmp_path: Path) -> None:
    if Path("/sys/fs/selinux/enforce").exists():
        pytest.skip("SELinux is on here: whether secmark.nft loads depends on its policy")
    # the same table without its secmark objects and the rules that use them loads: the
    # objects are what the kernel refuses
    text = (CORPUS / "secmark.nft").read_text()
    plain = tmp_path / "plain.nft"
    plain.write_text("table inet x {\n\tchain y {\n\t\ttype filter hook input priority -225;\n\t}\n}\n")
    assert "table inet x {" in text and "type filter hook input priority -225;" in text
    ok, said = _nft_check(scratch, "-f", str(plain))
    assert ok, said
    one = tmp_path / "one.nft"
    one.write_text(
        'table inet x {\n\tsecmark ssh_server {\n\t\t"system_u:object_r:ssh_server_packet_t:s0"\n\t}\n}\n'
    )
    ok, said = _nft_check(scratch, "-f", str(one))
    assert not ok and "No such file or directory" in said, said


def test_a_defined_name_is_not_taken_for_a_misspelt_word(tmp_path: Path) -> None:
    (tmp_path / "s.nft").write_text((CORPUS / "sets_and_maps.nft").read_text())
    (tmp_path / "lab.toml").write_text(LAB.replace("example.nft", "s.nft"))
    r = subprocess.run(
        [sys.executable, "-m", "nslab.cli", "validate", "lab.toml"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    # line 9, `define int_if2 = eth1`: gw has an eth0 (line 8), no eth1
    assert r.returncode == 2 and "line 9: interface `eth1` does not exist" in r.stderr, r.stderr
    assert "did you mean" not in r.stderr, r.stderr


def test_a_ruleset_naming_the_hosts_own_interface_loads(tmp_path: Path) -> None:
    # overview.nft and load_balancing.nft name interfaces by index (iif, netdev's device):
    # fine on a host that has them, and gw has an eth0 (its first interface) in the lab
    (tmp_path / "own.nft").write_text(
        "table inet t {\n  chain input {\n    type filter hook input priority filter; policy accept;\n"
        '    iif "eth0" tcp dport 22 accept\n  }\n}\n'
    )
    (tmp_path / "lab.toml").write_text(LAB.replace("example.nft", "own.nft"))
    r = subprocess.run(
        [sys.executable, "-m", "nslab.cli", "validate", "lab.toml"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    assert r.returncode == 0 and "1 ruleset file(s) loaded" in r.stdout, r.stderr


# --- the examples that load, built in one lab: tables, rules for coverage, a few flows ------------

BUILT = CORPUS / "examples.toml"  # one host a loading example

# host -> (file, the tables it makes, the lines of its rules): counted by hand in each file
LOADED = {
    "arp": ("arp-filter.nft", {"arp filter"}, []),
    "bridge": ("bridge-filter.nft", {"bridge filter"}, []),
    "inet": ("inet-filter.nft", {"inet filter"}, []),
    "inet-nat": ("inet-nat.nft", {"inet nat"}, []),
    "ip4": ("ipv4-filter.nft", {"ip filter"}, []),
    "ip4-mangle": ("ipv4-mangle.nft", {"ip mangle"}, []),
    "ip4-nat": ("ipv4-nat.nft", {"ip nat"}, []),
    "ip4-raw": ("ipv4-raw.nft", {"ip raw"}, []),
    "ip6": ("ipv6-filter.nft", {"ip6 filter"}, []),
    "ip6-mangle": ("ipv6-mangle.nft", {"ip6 mangle"}, []),
    "ip6-nat": ("ipv6-nat.nft", {"ip6 nat"}, []),
    "ip6-raw": ("ipv6-raw.nft", {"ip6 raw"}, []),
    "ingress": ("netdev-ingress.nft", {"netdev filter"}, []),
    # one rule over two lines (a `\` continuation): its first line names it
    "nat": ("nat.nft", {"ip nat"}, [14, 28]),
    "ws": ("workstation.nft", {"inet filter"}, [10, 13, 19, 20, 23]),
    "helpers": ("ct_helpers.nft", {"inet filter"}, [33, 36, 39]),
}


@pytest.fixture(scope="module")
def examples() -> Iterator[LabSession]:
    before = host_snapshot()
    # patient waits: a loaded machine answers a ping later than the default 0.1 s
    with provisioned(BUILT, counting=True, ping_wait=1, probe_wait=1) as session:
        yield session
    assert host_snapshot() == before


def _tables(listing: str) -> set[str]:
    return {" ".join(line.split()[1:3]) for line in listing.splitlines() if line.startswith("table ")}


def test_every_loading_example_is_one_hosts_firewall_in_one_lab(examples: LabSession) -> None:
    for host, (_, tables, _) in LOADED.items():
        assert _tables(examples.ruleset_text(host)) == tables, host


def _coverage_lines(session: LabSession) -> dict[str, list[int]]:
    session.coverage.end(session.w, "corpus")
    return {f["file"]: [r["line"] for r in f["rules"]] for f in session.coverage.as_json()}


def test_rule_coverage_maps_each_examples_rules_to_their_lines(examples: LabSession) -> None:
    got = _coverage_lines(examples)
    for host, (file, _, lines) in LOADED.items():
        if host != "helpers":  # below, on its own: a map over three lines
            assert got[file] == lines, file


def test_rule_coverage_maps_a_rule_whose_map_spans_three_lines(examples: LabSession) -> None:
    assert _coverage_lines(examples)["ct_helpers.nft"] == [33, 36, 39]


def test_the_workstation_example_decides_as_read(examples: LabSession) -> None:
    # workstation.nft, input of table inet filter: rule 1 `iif lo accept`, 2 established,
    # 3 the ICMPv6 types of RFC 4890 (echo-request among them), 4 link-local MLD, 5 `counter
    # drop`. A ping from arp (a host with no rules in the way) over IPv4 is new and no
    # ICMPv6: rule 5 drops it (nslab quotes it as written, at its line). Over IPv6 rule 3
    # accepts the echo-request; the reply leaves by ws's output, which has no rules. A new
    # TCP connection to 22: rule 5 (the line that would open 22 is commented out).
    v4 = examples.ping("arp", "ws", count=1)
    drop = "ws: dropped by input rule 5 (counter drop) in table inet filter at workstation.nft:23"
    assert v4.lost and drop in v4.evidence.summary(lost=True), v4.evidence.summary(lost=True)
    v6 = examples.ping("arp", "ws", count=1, v6=True)
    assert not v6.lost and "ws: accepted by input rule 3 (" in v6.evidence.summary(lost=False)
    examples.listen("ws", "tcp", 22)
    ssh = examples.connect("arp", "ws", "tcp", 22)
    assert ssh.outcome.outcome == "dropped" and drop in (ssh.evidence.summary(lost=True)), (
        ssh.evidence.summary(lost=True)
    )
