"""Docker's rules beside a host's own, in another tool: a native nft file is read with
Docker's iptables tables (both counted, each verdict named by its own); a file loaded with
iptables-legacy beside Docker's iptables-nft is one line naming both, never a verdict
that read only one of them."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from conftest import needs_netns
from support.corpus import nslab
from test_docker_daemon import WEB, needs_docker

from nslab.config import Settings
from nslab.errors import LabError
from nslab.scenario.session import LabSession


def _machine_iptables() -> str:
    try:
        return subprocess.run(["iptables", "-V"], capture_output=True, text=True, check=False).stdout
    except FileNotFoundError:
        return ""


# Docker runs this machine's iptables: the lab's legacy files are in the other backend
needs_legacy = pytest.mark.skipif(
    shutil.which("iptables-legacy") is None or "(nf_tables)" not in _machine_iptables(),
    reason="needs iptables-legacy beside an iptables-nft `iptables` (apt-get install iptables)",
)
WEB_NFT = """\
table inet web {
  chain input {
    type filter hook input priority filter; policy drop;
    iif "lo" accept
    ct state established,related accept
    counter drop
  }
}
"""


def lab_file(tmp_path: Path, *, rules: str, backend: str = "nft") -> Path:
    text = WEB.read_text()
    if rules == "nft":
        (tmp_path / "web.nft").write_text(WEB_NFT)
        text = text.replace(
            'firewall = { iptables = "web-deny-incoming.rules" }', 'firewall = { nft = "web.nft" }'
        )
    else:
        shutil.copy(WEB.with_name("web-deny-incoming.rules"), tmp_path)
    text = text.replace("[upstream]", f'[firewall]\nbackend = "{backend}"\n\n[upstream]')
    (tmp_path / "lab.toml").write_text(text)
    return tmp_path / "lab.toml"


def built(lab: Path) -> LabSession:
    session = LabSession.open(Settings(lab=str(lab), ping_wait=1, probe_wait=1))
    session.use_lab(None)
    session.new_world()
    return session


@needs_netns
@needs_docker
def test_a_hosts_nft_file_and_dockers_iptables_are_both_read(tmp_path: Path) -> None:
    session = built(lab_file(tmp_path, rules="nft"))
    try:
        session.provision()
        published = session.connect("the internet", "the uplink", "tcp", 8080)
        assert published.outcome.outcome == "accepted"
        assert "web: accepted by DOCKER rule 1 (-d 172.17.0.2/32" in published.why()
        own = session.connect("the internet", "the uplink", "tcp", 22)
        assert own.outcome.outcome == "dropped"
        assert "web: dropped by input rule 3 (counter drop) in table inet web at web.nft:6" in own.why()
        assert "web:iptables+nft" in session.firewalls
    finally:
        session.close()


@needs_netns
@needs_docker
@pytest.mark.skipif(
    shutil.which("iptables-legacy") is None, reason="needs iptables-legacy (apt-get install iptables)"
)
def test_legacy_rules_beside_dockers_nft_rules_name_both(tmp_path: Path) -> None:
    session = built(lab_file(tmp_path, rules="iptables", backend="legacy"))
    try:
        with pytest.raises(LabError) as exc:
            session.provision()
    finally:
        session.close()
    assert str(exc.value).startswith(
        "web holds rules in both iptables-legacy (web-deny-incoming.rules, the lab's backend) and "
        "iptables-nft (Docker's, through this machine's iptables)"
    )


@needs_netns
@needs_docker
@pytest.mark.skipif(
    shutil.which("iptables-legacy") is None, reason="needs iptables-legacy (apt-get install iptables)"
)
def test_nslab_validate_names_both_backends(tmp_path: Path) -> None:
    r = nslab("validate", str(lab_file(tmp_path, rules="iptables", backend="legacy")))
    assert r.returncode == 2
    assert (
        "web holds rules in both iptables-legacy (web-deny-incoming.rules, the lab's backend) and "
        in r.stderr
    )
    ok = nslab("validate", str(WEB))
    assert ok.returncode == 0, ok.stderr
