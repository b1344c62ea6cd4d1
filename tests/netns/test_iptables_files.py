"""A lab's iptables and ip6tables files load for real: their rules decide the verdicts.

    a 10.9.3.10 ---- br-n ---- b 10.9.3.20 (its INPUT: tcp 80 only, policy DROP)
    2001:db8:93::10            2001:db8:93::20

Until this test, the rulesets stage ran `iptables-restore -w FILE`: iptables-restore took
the file name as `-w`'s seconds and read no rules, exit 0. Every verdict about such a host
was the verdict of no firewall at all (port 81 "refused" where the file drops it).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from conftest import host_snapshot, needs_netns
from support.labs import provisioned

LAB = """
[lab]
name = "files"
[firewall]
backend = "{backend}"
[[network]]
name = "n"
subnet = "10.9.3.0/24"
subnet6 = "2001:db8:93::/64"
[[host]]
name = "a"
interfaces = [{{ network = "n", address = "10.9.3.10", address6 = "2001:db8:93::10" }}]
[[host]]
name = "b"
interfaces = [{{ network = "n", address = "10.9.3.20", address6 = "2001:db8:93::20" }}]
firewall = {{ {kind} = "b.rules" }}
"""
RULES = """*filter
:INPUT DROP [0:0]
-A INPUT -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT
-A INPUT -p {icmp} -j ACCEPT
-A INPUT -p tcp --dport 80 -j ACCEPT
COMMIT
"""


@needs_netns
@pytest.mark.parametrize("backend", ["nft", "legacy"])
@pytest.mark.parametrize("kind", ["iptables", "ip6tables"])
def test_a_labs_iptables_file_decides(tmp_path: Path, kind: str, backend: str) -> None:
    if backend == "legacy" and not shutil.which(f"{kind}-legacy-restore"):
        pytest.skip(f"no {kind}-legacy-restore on this machine")
    before = host_snapshot()
    (tmp_path / "lab.toml").write_text(LAB.format(backend=backend, kind=kind))
    (tmp_path / "b.rules").write_text(RULES.format(icmp="ipv6-icmp" if kind == "ip6tables" else "icmp"))
    six = kind == "ip6tables"
    with provisioned(tmp_path / "lab.toml") as session:
        for port in (80, 81):
            session.listen("b", "tcp", port)
        assert session.connect("a", "b", "tcp", 80, v6=six).outcome.outcome == "accepted"
        dropped = session.connect("a", "b", "tcp", 81, v6=six)
        assert dropped.outcome.outcome == "dropped"
        assert "INPUT policy DROP" in dropped.evidence.summary(lost=True)
        assert "--dport 80 -j ACCEPT" in session.ruleset_text("b")
    assert host_snapshot() == before
