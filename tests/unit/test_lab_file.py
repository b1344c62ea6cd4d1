"""The lab model: the seed lab's values and one clear error per bad lab file."""

from __future__ import annotations

import ipaddress
from pathlib import Path

import pytest
from conftest import ROOT

from nslab.errors import LabError
from nslab.lab import default_lab, load_lab
from nslab.lab.tables import read_seed_notation


def test_seed_lab_matches_the_story() -> None:
    lab = default_lab()
    legs = [(h.name, i.name, i.peer, i.network, str(i.address)) for h in lab.hosts for i in h.interfaces]
    assert legs == [
        ("red", "veth1-red", "veth0-red", "lan", "10.16.0.2/24"),
        ("blue", "veth1-blue", "veth0-blue", "lan", "10.16.0.3/24"),
    ]
    (lan,) = lab.networks
    assert (lan.bridge, str(lan.subnet), str(lan.gateway)) == ("br0", "10.16.0.0/24", "10.16.0.1/24")
    assert lan.host is None and lab.gateway_network == lan
    assert lab.firewall is not None and (lab.firewall.chain, lab.firewall.policy) == ("NAVY", "DROP")
    assert lab.upstream.host_address6 is None and not lab.v6  # the seed is IPv4 only
    # the simulated internet is on documentation ranges, never a real address
    for addr in (lab.upstream.server, lab.upstream.dns, lab.upstream.host_address.ip):
        assert any(addr in ipaddress.ip_network(n) for n in ("198.51.100.0/24", "203.0.113.0/24"))


def test_three_namespace_lab_derives_interface_names() -> None:
    lab = load_lab(ROOT / "labs" / "three-ns.toml")
    (green,) = lab.namespace("green").interfaces
    assert (green.name, green.peer, str(green.address)) == ("veth1-green", "veth0-green", "10.20.0.3/24")


def _ns(**kw: object) -> dict[str, object]:
    return {"namespace": [{"name": "red", "address": "10.16.0.2", **kw}]}


@pytest.mark.parametrize(
    ("raw", "field", "words"),
    [
        (_ns(name="red; rm -rf /"), "namespace #1.name", "not a valid name"),
        (_ns(name="Red"), "namespace #1.name", "not a valid name"),
        (_ns(name="a" * 16), "namespace #1.name", "longer than 15 bytes"),
        (_ns(interface="veth1-abcdefghij"), "namespace red.interface", "16 bytes"),
        (_ns(interface="eth0$(reboot)"), "namespace red.interface", "not a valid interface name"),
        (_ns(address="10.17.0.2"), "namespace red.address", "in none of the network's subnets"),
        (_ns(address="10.16.0.2/25"), "namespace red.address", "differs from 10.16.0.0/24"),
        (_ns(address="10.16.0.255"), "namespace red.address", "broadcast"),
        (_ns(address="not-an-ip"), "namespace red.address", "not an address"),
        (_ns(colour="red"), "namespace #1", "unknown key 'colour'"),
        ({"namespace": []}, "namespace", "at least one"),
        ({"namespace": [{"name": "red"}]}, "namespace red.address", "missing"),
        (
            {**_ns(), "bridge": {"gateway": "10.16.0.2/24"}},
            "host red.veth1-red",
            "already used by network lan",
        ),
        ({**_ns(), "bridge": {"name": "br0 x"}}, "bridge.name", "not a valid interface name"),
        ({**_ns(), "firewall": {"policy": "REJECT"}}, "firewall.policy", "ACCEPT or DROP"),
        ({**_ns(), "firewall": {"chain": "FORWARD"}}, "firewall.chain", "built-in"),
        ({**_ns(), "firewall": {"chain": "NA VY"}}, "firewall.chain", "not a valid iptables chain"),
        ({**_ns(), "lab": {"subnet": "10.16.0.0/33"}}, "lab.subnet", "not a subnet"),
        ({**_ns(), "upstream": {"server": "10.16.0.9"}}, "upstream.server", "not in a documentation range"),
        # the same rules as the routed notation: reserved words, documentation ranges only
        (_ns(name="host"), "namespace #1.name", "a word nslab's steps and CLI reserve"),
        (_ns(name="world"), "namespace #1.name", "a word nslab's steps and CLI reserve"),
        (_ns(name="the"), "namespace #1.name", "a word nslab's steps and CLI reserve"),
        ({**_ns(), "upstream": {"server": "8.8.8.8"}}, "upstream.server", "not in a documentation range"),
        ({**_ns(), "upstream": {"dns": "1.1.1.1"}}, "upstream.dns", "not in a documentation range"),
        ({**_ns(), "upstream": {"namespace": "red"}}, "upstream.namespace", "already used"),
        ({**_ns(), "upstream": {"domain": "bad domain"}}, "upstream.domain", "not a valid domain"),
        (
            {"namespace": [{"name": "red", "address": "10.16.0.2"}, {"name": "red", "address": "10.16.0.3"}]},
            "namespace #2.name",
            "already used",
        ),
        (
            {
                "namespace": [
                    {"name": "red", "address": "10.16.0.2", "peer": "p"},
                    {"name": "blue", "address": "10.16.0.3", "peer": "p"},
                ]
            },
            "host blue.veth1-blue.peer",
            "interface name 'p' is already used by host red.veth1-red.peer",
        ),
        ({"bogus": {}}, "lab file", "unknown key 'bogus'"),
    ],
)
def test_bad_labs_name_the_field(raw: dict[str, object], field: str, words: str) -> None:
    with pytest.raises(LabError) as err:
        read_seed_notation(raw)
    message = str(err.value)
    assert message.startswith(field + ":"), message
    assert words in message
    assert "\n" not in message


def test_bad_file_errors_name_the_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("[lab\n")
    with pytest.raises(LabError, match=r"bad\.toml: not valid TOML"):
        load_lab(bad)
    with pytest.raises(
        LabError, match=r"no such lab file \(fix: check the path; .* \[tool\.nslab\] lab, else"
    ):
        load_lab(tmp_path / "missing.toml")


def test_unknown_namespace_lists_the_valid_ones() -> None:
    lab = default_lab()
    with pytest.raises(LabError) as err:
        lab.namespace("purple")
    assert "unknown host 'purple'" in str(err.value) and "red, blue" in str(err.value)
    with pytest.raises(LabError, match="simulated upstream"):
        lab.namespace("isp")


def test_resolve_places_and_refuses_addresses_outside_the_lab() -> None:
    lab = default_lab()
    assert str(lab.resolve("blue")) == "10.16.0.3"
    assert str(lab.resolve("the gateway")) == "10.16.0.1"
    assert str(lab.resolve("the internet")) == "203.0.113.10"
    assert str(lab.resolve("10.16.0.77")) == "10.16.0.77"
    with pytest.raises(LabError, match="not part of lab"):
        lab.resolve("8.8.8.8")
    with pytest.raises(LabError, match="unknown destination 'purple'"):
        lab.resolve("purple")


def test_a_lab_file_is_read_in_place_of_another_by_a_setting_not_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """nslab mutate tells its behave processes which copy to read as `-D lab_as=ORIG=COPY`
    (Settings.read_as, for the run's lab and a feature's @lab:NAME); load_lab reads the file
    it is given whatever the environment says."""
    from nslab.config import Settings

    original, copy = tmp_path / "lab.toml", tmp_path / "copy" / "lab.toml"
    copy.parent.mkdir()
    seed = (ROOT / "labs" / "seed.toml").read_text()
    original.write_text(seed.replace('name = "seed"', 'name = "original"', 1))
    copy.write_text(seed.replace('name = "seed"', 'name = "copy"', 1))
    monkeypatch.setenv("NSLAB_LAB_AS", f"{original}={copy}")  # the old side channel: ignored
    assert load_lab(original).name == "original"
    settings = Settings.from_sources({"lab": str(original), "lab_as": f"{original}={copy}"}, None)
    assert settings.read_as(original) == copy and settings.load_lab().name == "copy"
    assert settings.read_as(tmp_path / "other.toml") == tmp_path / "other.toml"
    assert Settings().read_as(original) == original
