"""Words the kernel's own tests need: a /31 point-to-point transit (RFC 3021) between
routers, both addresses hosts (it was refused as "network or broadcast address"); output
lines matched whatever their padding."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import HERE_FEATURES, needs_netns, run_feature


@needs_netns
def test_routers_on_a_31_transit_route_across_it_with_their_own_sysctls(tmp_path: Path) -> None:
    r = run_feature(HERE_FEATURES / "p2p.feature", tmp_path)
    assert r.returncode == 0 and "3 scenarios passed, 0 failed" in r.stdout, r.stdout[-3000:]


@needs_netns
def test_the_output_shows_folds_blanks(tmp_path: Path) -> None:
    """`iptables -L` pads its columns: a docstring with single spaces still matches."""
    r = run_feature(HERE_FEATURES / "output-shows.feature", tmp_path)
    assert r.returncode == 0 and "1 scenario passed, 0 failed" in r.stdout, r.stdout[-3000:]


@needs_netns
def test_interface_mtu_and_ping_sizes_on_the_real_path(tmp_path: Path) -> None:
    """`mtu` per interface in the lab file; `pings X with N bytes of data[, not fragmented]`:
    1372 bytes fit a 1400-byte hop, 1472 do not unless fragmented; `pings ADDR as a
    broadcast` (ping -b) is answered by the host whose sysctls let it answer; a second
    address (`extra_addresses`) answers too."""
    r = run_feature(HERE_FEATURES / "mtu.feature", tmp_path)
    assert r.returncode == 0 and "6 scenarios passed, 0 failed" in r.stdout, r.stdout[-3000:]


@pytest.mark.parametrize(
    ("mtu", "address6", "words"),
    [
        ("1000", True, "1000 is out of range (IPv6 needs 1280) (fix: use 1280 to 65535)"),
        ("60", False, "60 is out of range (fix: use 68 to 65535)"),
        ('"big"', False, "'big' is not a number of bytes (fix: e.g. mtu = 1400)"),
    ],
)
def test_a_bad_mtu_is_one_line(mtu: str, address6: bool, words: str) -> None:
    from nslab.config import tomllib
    from nslab.errors import LabError
    from nslab.lab.tables import read_lab

    six = ', address6 = "2001:db8:1::10"' if address6 else ""
    raw = tomllib.loads(
        '[[network]]\nname = "a"\nsubnet = "10.1.0.0/24"\nsubnet6 = "2001:db8:1::/64"\n'
        f'[[host]]\nname = "pc"\n'
        f'interfaces = [{{ network = "a", address = "10.1.0.10"{six}, mtu = {mtu} }}]\n'
    )
    with pytest.raises(LabError) as err:
        read_lab(raw, Path("."))
    assert str(err.value) == f"host pc.interfaces #1.mtu: {words}"


@needs_netns
def test_a_named_nft_counter_is_evidence_and_a_step(tmp_path: Path) -> None:
    """`counter name "telnet_drops"` in a rule: its packets are the rule's (the evidence
    names the rule), and `r2's counter telnet_drops counted at least 1 packets` reads it."""
    r = run_feature(HERE_FEATURES / "named-counters.feature", tmp_path)
    # and "NAME's ruleset shows" reads a host's rules with its own tool, the host's too
    assert r.returncode == 0 and "2 scenarios passed, 0 failed" in r.stdout, r.stdout[-3000:]


@needs_netns
def test_a_ruleset_line_that_is_not_there_names_the_place_and_shows_its_rules(tmp_path: Path) -> None:
    r = run_feature(HERE_FEATURES / "ruleset-wrong.feature", tmp_path)
    assert r.returncode == 1 and "1 scenario passed, 1 failed" in r.stdout, r.stdout[-3000:]
    assert "r2's ruleset has no line 'tcp dport 24 counter drop'" in r.stdout
    assert 'tcp dport 23 counter name "telnet_drops" drop' in r.stdout  # the rules it has, shown


@needs_netns
def test_a_spoofed_source_meets_the_routers_reverse_path_filter(tmp_path: Path) -> None:
    """rpath.sh in nslab's words: a ping, a datagram and a SYN from another source address;
    r1's rp_filter drops the one whose source lies behind r2; an address outside the lab is
    refused in one line, before anything is sent."""
    r = run_feature(HERE_FEATURES / "rpath.feature", tmp_path)
    out = r.stdout
    assert r.returncode == 1 and "4 scenarios passed, 1 failed" in out, out[-3000:]
    assert (
        "192.0.2.1 is in neither the lab's networks nor a documentation range (its answers go there)" in out
    ), out[-2000:]


@needs_netns
def test_the_hosts_own_native_nft_rules_are_evidence_too(tmp_path: Path) -> None:
    """A step's `nft add table inet mine ...` on the lab's host: the verdict names that rule
    (the host was read with iptables-save alone: "no firewall rule ... counted")."""
    r = run_feature(HERE_FEATURES / "host-nft.feature", tmp_path)
    assert r.returncode == 0 and "2 scenarios passed, 0 failed" in r.stdout, r.stdout[-3000:]


@needs_netns
def test_an_icmp_error_related_to_a_connection_is_accepted_and_an_unrelated_one_dropped(
    tmp_path: Path,
) -> None:
    """conntrack_icmp_related.sh's point with no raw command: frag-needed and packet-too-big
    about h1's own pings count as related; the same error about a packet sent in h1's name
    (a spoofed, sized, don't-fragment ping from h3) is dropped as unrelated."""
    r = run_feature(HERE_FEATURES / "icmp-related.feature", tmp_path)
    assert r.returncode == 0 and "3 scenarios passed, 0 failed" in r.stdout, r.stdout[-3000:]


@needs_netns
def test_nft_nat_masquerade_snat_dnat_and_redirect_in_both_families(tmp_path: Path) -> None:
    """nft_nat.sh's points with no raw command: where each translation lands, in both
    families, and the NAT rule named as the one that decided it."""
    r = run_feature(HERE_FEATURES / "nft-nat.feature", tmp_path)
    assert r.returncode == 0 and "4 scenarios passed, 0 failed" in r.stdout, r.stdout[-3000:]
