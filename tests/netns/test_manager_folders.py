"""A manager's folder laid over the package's defaults (issue 29): `ufw = "FOLDER"` over
/etc/ufw, `firewalld = "FOLDER"` over /etc/firewalld; a folder the manager refuses is one
line naming the manager's own complaint, not a lab silently run on stock rules."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from conftest import needs_netns
from test_manager_world import needs_managers

from nslab.commands import CommandError
from nslab.lab import load_lab
from nslab.machine.provision import lab_env, provision
from nslab.machine.targets.local import LocalTarget
from nslab.machine.world import World
from nslab.managers.common import host_argv

LAB = """
[lab]
name = "folders"
[[network]]
name = "lan"
bridge = "br-lan"
subnet = "10.7.0.0/24"
[[host]]
name = "h"
interfaces = [{{ network = "lan", address = "10.7.0.30" }}]
firewall = {{ {kind} = "conf" }}
"""


def _lab(tmp_path: Path, kind: str) -> Path:
    (tmp_path / "conf").mkdir()
    path = tmp_path / "lab.toml"
    path.write_text(LAB.format(kind=kind))
    return path


@needs_netns
@needs_managers
def test_a_ufw_folder_gives_its_files_and_the_package_the_rest(tmp_path: Path) -> None:
    path = _lab(tmp_path, "ufw")
    # the package's user.rules with one rule of the user's, as ufw itself writes it
    template = Path("/usr/share/ufw/iptables/user.rules").read_text()
    rule = (
        "### tuple ### allow tcp 8080 0.0.0.0/0 any 0.0.0.0/0 in\n"
        "-A ufw-user-input -p tcp --dport 8080 -j ACCEPT\n"
    )
    (tmp_path / "conf" / "user.rules").write_text(
        template.replace("### RULES ###\n", f"### RULES ###\n\n{rule}")
    )
    lab = load_lab(path)
    with World.start(LocalTarget()) as world:
        provision(world, lab)
        h = lab.namespace("h")
        status = world.run(host_argv(lab, h, ["ufw", "status"]), check=True).stdout
        assert "8080/tcp" in status and "ALLOW" in status
        rules = world.run(["iptables-save"], ns="h").stdout
        assert "-A ufw-user-input -p tcp -m tcp --dport 8080 -j ACCEPT" in rules
        assert "-A ufw-before-input -i lo -j ACCEPT" in rules  # the package's before.rules


@needs_netns
@needs_managers
def test_a_firewalld_folder_firewalld_refuses_is_one_line_naming_why(tmp_path: Path) -> None:
    path = _lab(tmp_path, "firewalld")
    (tmp_path / "conf" / "zones").mkdir()
    (tmp_path / "conf" / "zones" / "public.xml").write_text(
        '<?xml version="1.0" encoding="utf-8"?>\n<zone>\n  <service name="no-such-service"/>\n</zone>\n'
    )
    lab = load_lab(path)
    with World.start(LocalTarget()) as world:
        start = time.monotonic()
        with pytest.raises(CommandError) as err:
            provision(world, lab)
        took = time.monotonic() - start
    assert (
        "nslab: firewalld on h refused the lab's configuration (INVALID_SERVICE: Zone 'public': "
        "'no-such-service' not among existing services); fix the lab's firewalld folder"
    ) in str(err.value)
    assert took < 30  # firewalld falls back to stock zones and runs on: not waited out


@needs_netns
@needs_managers
def test_a_ufw_command_ufw_refuses_is_one_line_naming_it(tmp_path: Path) -> None:
    path = tmp_path / "lab.toml"
    text = LAB.format(kind="ufw").replace('{ ufw = "conf" }', '{ ufw = ["allow 22/tcp", "allow 99999/tcp"] }')
    path.write_text(text)
    lab = load_lab(path)
    with World.start(LocalTarget()) as world, pytest.raises(CommandError) as err:
        provision(world, lab)
    assert (
        "nslab: h: `ufw allow 99999/tcp` failed: ERROR: Bad port "
        "(fix: the host's firewall = { ufw = [...] } in the lab file)"
    ) in str(err.value)
    # ufw's words lead the error line, before the stages' command and output
    said = str(err.value)
    assert said.startswith("h: `ufw allow 99999/tcp` failed: ERROR: Bad port (fix: "), said


@needs_netns
@needs_managers
def test_the_stage_alone_refuses_to_run_a_manager_on_package_defaults(tmp_path: Path) -> None:
    """The stages run without nslab (Vagrant's way) have no lab folder or commands in the
    world: the managers stage says so, rather than run the package's defaults silently."""
    path = _lab(tmp_path, "ufw")
    lab = load_lab(path)
    with World.start(LocalTarget()) as world:
        r = world.run(
            ["bash", f"{world.provision_dir}/run.sh", "20-networks.sh", "56-managers.sh"], env=lab_env(lab)
        )
    assert r.rc != 0
    assert "nslab: h's ufw inputs are not in /run/nslab/managers/h: run the stages through nslab" in r.stderr
