"""[upstream] names the internet-facing interface and its address as the real host has
them (`interface = "eth1"`, `address = "192.0.2.1/24"`), so a ruleset written for the real
uplink runs unedited; bad values are one line naming the key and the fix."""

from __future__ import annotations

import ipaddress
import json
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT, host_snapshot, needs_netns

from nslab.errors import LabError
from nslab.lab import load_lab

LAB = ROOT / "tests" / "labs" / "eth1-uplink.toml"


def _lab(
    tmp_path: Path, upstream: str, interfaces: str = '{ network = "lan", address = "10.50.0.1" }'
) -> Path:
    path = tmp_path / "lab.toml"
    path.write_text(
        '[lab]\nname = "t"\n[[network]]\nname = "lan"\nsubnet = "10.50.0.0/24"\n'
        f'[[host]]\nname = "gw"\nrouter = true\ninterfaces = [{interfaces}]\n'
        f'[upstream]\nvia = "gw"\n{upstream}\n'
    )
    return path


def test_the_uplink_is_named_as_the_real_host_has_it() -> None:
    up = load_lab(LAB).upstream
    assert (up.uplink, up.host_address) == ("eth1", ipaddress.IPv4Interface("192.0.2.1/24"))
    # the isp takes another address of that subnet
    assert up.isp_address == ipaddress.IPv4Interface("192.0.2.2/24")


def test_without_the_keys_the_defaults_stay(tmp_path: Path) -> None:
    up = load_lab(_lab(tmp_path, "")).upstream
    assert (up.uplink, str(up.host_address), str(up.isp_address)) == (
        "uplink0",
        "198.51.100.1/24",
        "198.51.100.2/24",
    )
    # the isp side steps aside where the lab's side takes its usual address
    assert (
        str(load_lab(_lab(tmp_path, 'address = "198.51.100.2/29"')).upstream.isp_address) == "198.51.100.1/29"
    )


NOT_PUBLIC = (
    "is not a public or documentation address (fix: the internet's side of the uplink, e.g. 192.0.2.1/24"
)


@pytest.mark.parametrize(
    ("upstream", "message"),
    [
        ('interface = "a-very-long-uplink"',
         "upstream.interface: 'a-very-long-uplink' is 18 bytes; Linux interface names are at most 15 bytes"
         " (IFNAMSIZ) (fix: set interface to a name of at most 15 bytes)"),
        ('address = "192.0.2.1"',
         "upstream.address: '192.0.2.1' has no prefix length"
         ' (fix: write it like address = "192.0.2.1/24")'),
        ('address = "192.0.2.300/24"',
         "upstream.address: '192.0.2.300/24' is not an IPv4 address with its prefix"),
        ('address = "10.9.0.1/24"', f"upstream.address: 10.9.0.1 {NOT_PUBLIC}"),
        ('address = "10.50.0.254/24"', f"upstream.address: 10.50.0.254 {NOT_PUBLIC}"),
        ('address = "192.0.2.1/32"',
         "upstream.address: 192.0.2.1/32 leaves no address for the isp's side (fix: use a prefix of /30"),
        ('address = "192.0.2.1/24"\nhost_address = "198.51.100.1/24"',
         "upstream: both address and host_address name the uplink's host address"
         " (fix: keep one: address = ...)"),
        ('interface = "eth0"',
         "upstream.interface: gw has an interface 'eth0' on a lab network (fix: name gw's"),
    ],
)  # fmt: skip
def test_a_bad_uplink_is_one_line_naming_the_key(tmp_path: Path, upstream: str, message: str) -> None:
    path = _lab(tmp_path, upstream)
    with pytest.raises(LabError) as caught:
        load_lab(path)
    assert str(caught.value).startswith(f"{path}: {message}") and "\n" not in str(caught.value), str(
        caught.value
    )


def test_the_uplinks_ipv6_address_as_the_real_host_has_it(tmp_path: Path) -> None:
    up = load_lab(_lab(tmp_path, 'address6 = "2001:db8:100::1/64"')).upstream
    assert (str(up.host_address6), str(up.isp_address6)) == ("2001:db8:100::1/64", "2001:db8:100::2/64")
    for bad, message in (
        ("fd00::1/64", "upstream.address6: fd00::1 is not a public or documentation address"),
        ("2001:db8:100::1", "upstream.address6: '2001:db8:100::1' has no prefix length (fix: write it like"),
    ):
        path = _lab(tmp_path, f'address6 = "{bad}"')
        with pytest.raises(LabError) as caught:
            load_lab(path)
        assert str(caught.value).startswith(f"{path}: {message}"), str(caught.value)


def test_an_uplink_overlapping_a_lab_network_is_refused(tmp_path: Path) -> None:
    path = _lab(tmp_path, 'address = "192.0.2.1/24"')
    path.write_text(path.read_text().replace("10.50.0.", "192.0.2."))
    with pytest.raises(
        LabError, match=r"network lan: 192.0.2.0/24 overlaps the simulated internet's 192.0.2.0/24"
    ):
        load_lab(path)


@needs_netns
def test_a_ruleset_matching_iif_eth1_decides_the_internets_flows() -> None:
    """tests/labs/eth1-uplink.nft as written for the real host: `iif "eth1"` (an index:
    eth1 must exist when it loads, in the check's namespace too) drops ssh from the
    internet, and forwards 8080 to pc's 80; the LAN leaves masqueraded behind 192.0.2.1."""
    before = host_snapshot()
    r = subprocess.run(
        # waits of 1 s: a loaded machine answers late, and "dropped" must mean dropped here
        [sys.executable, "-m", "nslab.cli", "explore", "--lab", str(LAB), "--format", "json",
         "-D", "probe_wait=1", "-D", "ping_wait=1"],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    rows = {(x["from"], x["to_address"], x["service"]): x for x in json.loads(r.stdout)}
    ssh = rows[("the internet", "192.0.2.1", "tcp/22")]
    assert (
        ssh["outcome"] == "dropped"
        and 'dropped by input rule 1 (iif "eth1" tcp dport 22 counter drop)' in (ssh["decided_by"])
    ), ssh
    fwd = rows[("the internet", "192.0.2.1", "tcp/8080")]
    assert (fwd["outcome"], fwd["reached"]) == ("accepted", "pc"), fwd
    assert 'accepted by forward rule 3 (iif "eth1" ct status dnat counter accept)' in fwd["decided_by"], fwd
    out = rows[("pc", "203.0.113.10", "tcp/22")]
    assert (out["outcome"], out["seen_from"]) == ("accepted", "192.0.2.1"), out
    assert "masquerade" in out["decided_by"] and 'oif "eth1"' in out["decided_by"], out
    assert host_snapshot() == before
