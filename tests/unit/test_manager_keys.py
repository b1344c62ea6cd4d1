"""A host's firewall manager in the lab file (issue 29): `firewall = { ufw = [...] }`,
`{ ufw = "FOLDER" }`, `{ firewalld = "FOLDER" }`, read into the one lab model, and one
clear line for each bad value."""

from __future__ import annotations

from pathlib import Path

import pytest

from nslab.errors import LabError
from nslab.firewall.places import firewall_places
from nslab.lab import load_lab
from nslab.machine.provision import lab_env, stage_names

ROOT = Path(__file__).resolve().parents[2]
LAB = ROOT / "features" / "managers" / "labs" / "managers.toml"

HEAD = """
[lab]
name = "m"
[[network]]
name = "lan"
bridge = "br-lan"
subnet = "10.7.0.0/24"
[[host]]
name = "web"
interfaces = [{ network = "lan", address = "10.7.0.20" }]
"""


def _lab(tmp_path: Path, firewall: str) -> Path:
    (tmp_path / "web-ufw").mkdir()
    path = tmp_path / "lab.toml"
    path.write_text(HEAD + f"firewall = {firewall}\n")
    return path


def test_the_story_lab_names_its_managers() -> None:
    lab = load_lab(LAB)
    web, gw = lab.namespace("web").manager, lab.namespace("gw").manager
    assert web is not None and web.kind == "ufw"
    assert web.commands == (("default", "deny", "incoming"), ("allow", "22/tcp"))
    assert gw is not None and gw.kind == "firewalld" and gw.folder == LAB.parent / "gw-firewalld"
    assert lab.namespace("client").manager is None
    # ufw's rules are read with iptables, firewalld's with nft; the managers stage builds them
    assert firewall_places(lab)[1:] == ("web:iptables", "gw:nft")
    assert stage_names(lab) == ["sysctl", "networks", "managers"]
    assert lab_env(lab)["NSLAB_MANAGERS"].splitlines() == [
        "web ufw /run/nslab/managers/web",
        "gw firewalld /run/nslab/managers/gw",
    ]


def test_a_ufw_folder_and_ufw_words_as_people_type_them(tmp_path: Path) -> None:
    lab = load_lab(_lab(tmp_path, '{ ufw = "web-ufw" }'))
    m = lab.namespace("web").manager
    assert m is not None and m.folder == tmp_path / "web-ufw" and m.commands == ()
    (tmp_path / "b").mkdir()
    lab = load_lab(_lab(tmp_path / "b", """{ ufw = ["ufw allow 'OpenSSH'", "limit 2222/tcp"] }"""))
    m = lab.namespace("web").manager
    assert m is not None and m.commands == (("allow", "OpenSSH"), ("limit", "2222/tcp"))


@pytest.mark.parametrize(
    ("firewall", "problem", "fix"),
    [
        ('{ ufw = "nowhere" }', "web.firewall.ufw: ", "laid over /etc/ufw"),
        ('{ firewalld = ["allow 22"] }', 'web.firewall.firewalld: expected "FOLDER"', 'firewalld = "FOLDER"'),
        ('{ ufw = ["enable"] }', "nslab enables ufw itself", "rules and defaults only"),
        ('{ ufw = [""] }', "web.firewall.ufw #1: expected a ufw command", "allow 22/tcp"),
        ('{ ufw = "web-ufw", nft = "x.nft" }', "ufw beside nft: one firewall per host", "ufw alone"),
        ('{ ufw = "web-ufw", firewalld = "web-ufw" }', "one firewall per host", "alone"),
    ],
)
def test_a_bad_manager_value_is_one_line(tmp_path: Path, firewall: str, problem: str, fix: str) -> None:
    with pytest.raises(LabError) as err:
        load_lab(_lab(tmp_path, firewall))
    assert problem in err.value.problem and fix in (err.value.fix or "")
