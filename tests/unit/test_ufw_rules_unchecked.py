"""A ufw folder on a target whose kernel has no IPv6 (ip6tables-restore cannot load even
ufw-init's own chains): its IPv6 files go unchecked and the ok line says how many, rather
than the check failing with the tool's output. Pure: a fake runner stands for the tools."""

from __future__ import annotations

import contextlib
import os
import shlex
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from support.labs import host, lan_lab

from nslab.commands import Result
from nslab.lab import load_lab
from nslab.managers.ufw_rules import check_ufw_folders

pytestmark = pytest.mark.unit

LAB = lan_lab("b", "10.6.0.0/24", host("u", "10.6.0.1", firewall='{ ufw = "uf" }'))
NO_V6 = "ip6tables-restore v1.8.9 (nf_tables): Could not fetch rule set generation id: Invalid argument\n"


class NoIPv6:
    """iptables-restore loads anything; ip6tables-restore fails as on a kernel without IPv6."""

    def __init__(self) -> None:
        self.ran: list[str] = []

    def run(self, argv: list[str], **_: Any) -> Result:
        self.ran.append(argv[0])
        if argv[0] == "ip6tables-restore":
            return Result(shlex.join(argv), 1, "", NO_V6, 0.0)
        return Result(shlex.join(argv), 0, "", "", 0.0)


def test_a_family_the_target_cannot_load_is_left_unchecked_and_said(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(os, "geteuid", lambda: 0)  # validate loads a folder as root only
    (tmp_path / "uf").mkdir()
    for name in ("user.rules", "user6.rules", "before.rules"):
        (tmp_path / "uf" / name).write_text("*filter\nCOMMIT\n")
    (tmp_path / "lab.toml").write_text(LAB)
    runner = NoIPv6()

    @contextlib.contextmanager
    def world() -> Iterator[NoIPv6]:
        yield runner

    said = check_ufw_folders(load_lab(tmp_path / "lab.toml").hosts, "lab.toml", world)  # type: ignore[arg-type]
    assert said == (
        "; ufw folders of u: 2 rules file(s) loaded in a throwaway world, as ufw-init loads them "
        "(1 not: its tool cannot load here, IPv6 off?)"
    )
    assert runner.ran.count("ip6tables-restore") == 1  # asked once, then left alone
