"""A ufw folder's rules files (`firewall = { ufw = "FOLDER" }`), checked as a lab's iptables
files are: loaded in a throwaway world, as ufw-init loads them, and a rule that does not load
named by its file and line. A new user's user.rules jumping to `ACCCEPT` validated "ok"
(the ok line named nothing of the folder), and the build then failed with ufw's "problem
running ufw-init" and a fix naming a list of commands the lab did not use."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import TESTS, host_snapshot, needs_netns
from support.corpus import nslab
from support.labs import host, lan_lab
from test_manager_world import needs_managers

from nslab.commands import CommandError
from nslab.config import Settings
from nslab.errors import LabError
from nslab.lab import load_lab
from nslab.machine.provision import provision
from nslab.machine.targets.local import LocalTarget
from nslab.machine.world import World
from nslab.scenario.session import LabSession

SHIPPED = Path("/usr/share/ufw/iptables")
needs_ufw = pytest.mark.skipif(not SHIPPED.is_dir(), reason="needs ufw (apt-get install ufw)")

# the new user's lab (its folder: user.rules as ufw ships it, ACCEPT misspelt on line 8)
LAB = lan_lab("b", "10.6.0.0/24", host("u", "10.6.0.1", firewall='{ ufw = "uf" }'), host("c", "10.6.0.2"))


def _lab(tmp_path: Path, files: dict[str, str]) -> Path:
    (tmp_path / "uf").mkdir()
    for name, text in files.items():
        (tmp_path / "uf" / name).write_text(text)
    (tmp_path / "b.toml").write_text(LAB)
    return tmp_path / "b.toml"


def _validate(lab: Path) -> tuple[int, str, str]:
    before = host_snapshot()
    r = nslab("validate", str(lab))
    assert host_snapshot() == before
    return r.returncode, r.stdout, r.stderr


def acccept() -> str:
    return (TESTS / "data" / "ufw-folder-acccept" / "user.rules").read_text()


@needs_netns
@needs_ufw
def test_validate_names_the_file_and_line_of_a_folders_rule_that_does_not_load(tmp_path: Path) -> None:
    lab = _lab(tmp_path, {"user.rules": acccept()})
    rc, out, err = _validate(lab)
    assert rc == 2, out + err
    (line,) = err.splitlines()
    assert line == (
        f"nslab: host u's ufw folder does not load: {tmp_path}/uf/user.rules: line 8: "
        "unknown target or chain `ACCCEPT` (fix: did you mean ACCEPT?)"
    ), line


# a rule of each other file made wrong on its own line (the files load over ufw-init's
# chains and the ones before them: a good file never fails for a chain another file makes)
BAD = {
    "before.rules": (
        "-A ufw-before-input -p icmp --icmp-type echo-request -j ACCEPT",
        "-A ufw-before-input -p icmp --icmp-type echo-request -j ACCCEPT",
    ),
    "after6.rules": (
        "-A ufw6-after-input -p udp --dport 137 -j ufw6-skip-to-policy-input",
        "-A ufw6-after-input -p udp --dprot 137 -j ufw6-skip-to-policy-input",
    ),
    "before6.rules": (
        "-A ufw6-before-input -i lo -j ACCEPT",
        "-A ufw6-before-input -i lo -j ufw6-no-such-chain",
    ),
}


@needs_netns
@needs_ufw
@pytest.mark.parametrize("name", sorted(BAD))
def test_each_rules_file_is_checked_by_its_own_tool_at_its_own_line(tmp_path: Path, name: str) -> None:
    rule, bad_rule = BAD[name]
    lines = (SHIPPED / name).read_text().splitlines()
    at = lines.index(rule) + 1
    lines[at - 1] = bad_rule
    rc, out, err = _validate(_lab(tmp_path, {name: "\n".join(lines) + "\n"}))
    assert rc == 2, out + err
    assert f"{tmp_path}/uf/{name}: line {at}: " in err, (at, err)


@needs_netns
@needs_ufw
def test_validate_says_it_loaded_the_folders_files(tmp_path: Path) -> None:
    """Every file as ufw ships it, and a user.rules as ufw writes one: all load."""
    template = (SHIPPED / "user.rules").read_text()
    rule = (
        "### tuple ### allow tcp 8080 0.0.0.0/0 any 0.0.0.0/0 in\n"
        "-A ufw-user-input -p tcp --dport 8080 -j ACCEPT\n"
    )
    files = {p.name: p.read_text() for p in SHIPPED.glob("*.rules")}
    files["user.rules"] = template.replace("### RULES ###\n", f"### RULES ###\n\n{rule}")
    rc, out, err = _validate(_lab(tmp_path, files))
    assert rc == 0, err
    assert out.rstrip().endswith(
        "; ufw folders of u: 6 rules file(s) loaded in a throwaway world, as ufw-init loads them"
    ), out


@needs_netns
@needs_ufw
def test_a_scenario_of_the_lab_fails_before_building_naming_the_file(tmp_path: Path) -> None:
    lab = _lab(tmp_path, {"user.rules": acccept()})
    with pytest.raises(LabError, match=r"ufw folder does not load: .*/uf/user.rules: line 8: unknown target"):
        LabSession.open(Settings(lab=str(lab)))


@needs_netns
@needs_managers
def test_the_build_of_a_folder_ufw_refuses_points_at_the_folders_files(tmp_path: Path) -> None:
    """The stages alone (nslab up builds so): ufw-init's words, and a fix naming the folder,
    not the `ufw = [...]` list the lab does not use."""
    lab = load_lab(_lab(tmp_path, {"user.rules": acccept()}))
    with World.start(LocalTarget()) as world, pytest.raises(CommandError) as err:
        provision(world, lab)
    said = str(err.value)
    assert "u: `ufw --force enable` failed: " in said, said
    fix = f"(fix: the rules files of the host's ufw folder {tmp_path}/uf (`nslab validate` names"
    assert f"{fix} the file and line))" in said, said
    assert "ufw = [...]" not in said
