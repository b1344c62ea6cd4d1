"""The tests' lab builder (tests/support/labs.py) writes lab files nslab loads as written."""

from __future__ import annotations

import doctest
from pathlib import Path

from support import labs
from support.labs import host, lan_lab

from nslab.lab import load_lab


def test_its_example_is_what_it_writes() -> None:
    assert doctest.testmod(labs).failed == 0


def test_a_built_lab_loads_with_every_part_it_was_given(tmp_path: Path) -> None:
    text = lan_lab(
        "built",
        "10.9.8.0/24",
        host("a", "10.9.8.10", "2001:db8:98::10", network="n"),
        host("b", "10.9.8.20", network="n", routes='["default via 10.9.8.10"]'),
        network="n",
        subnet6="2001:db8:98::/64",
        head='[firewall]\nbackend = "nftables"\n',
        tail='[upstream]\nvia = "a"\n',
    )
    (tmp_path / "lab.toml").write_text(text)
    lab = load_lab(tmp_path / "lab.toml")
    assert (lab.name, lab.backend) == ("built", "nftables")
    assert [h.name for h in lab.hosts] == ["a", "b"]
    assert [str(n.subnet) for n in lab.networks] == ["10.9.8.0/24"]
    a = lab.hosts[0]
    assert {str(x) for v6 in (False, True) for x in a.addresses(v6)} == {"10.9.8.10", "2001:db8:98::10"}
    assert lab.upstream is not None and lab.upstream.via == "a"
