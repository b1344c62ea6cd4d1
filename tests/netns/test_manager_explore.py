"""nslab explore on a lab with managers (issue 29): the ports come from what ufw and
firewalld wrote (no file of the lab has them), and each deciding rule says which manager
made it; both sides of a diff probe the union of their managers' ports."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from pathlib import Path

from conftest import needs_netns
from test_manager_world import LAB, needs_managers

from nslab.lab import load_lab
from nslab.machine.provision import provision
from nslab.machine.targets.local import LocalTarget
from nslab.machine.world import World
from nslab.reach.flows import lab_ports
from nslab.reach.managed_ports import Shared, live_ports


@needs_netns
@needs_managers
def test_the_managers_rules_give_the_ports() -> None:
    lab = load_lab(LAB)
    assert lab_ports(lab) == []  # no ruleset file: nothing to read before it is built
    with World.start(LocalTarget()) as world:
        provision(world, lab)
        found = live_ports(world, lab)
    # ufw's allow 22/tcp and its before.rules' DHCP; gw's zone: ssh and the folder's 8443
    assert {("tcp", 22), ("tcp", 8443), ("udp", 68)} <= set(found)
    assert ("tcp", 80) not in found  # nobody's rule names it


@needs_netns
@needs_managers
def test_explore_names_the_manager_that_made_the_deciding_rule(tmp_path: Path) -> None:
    nslab = Path(sys.executable).with_name("nslab")
    r = subprocess.run(
        [str(nslab), "explore", "--lab", str(LAB), "--format", "json"],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=tmp_path,
    )
    assert r.returncode == 0, r.stderr
    rows = {(f["from"], f["to"], f["service"], f["family"]): f for f in json.loads(r.stdout)}
    admin = rows[("client", "gw", "tcp/8443", "v4")]
    assert admin["outcome"] == "accepted"
    assert admin["decided_by"] == (
        "gw: accepted by filter_IN_public_allow rule 2 (tcp dport 8443 accept) in table inet firewalld"
        " (made by firewalld)"
    )
    ssh = rows[("client", "web", "tcp/22", "v4")]
    assert ssh["outcome"] == "accepted" and ssh["decided_by"] == (
        "web: accepted by ufw-user-input rule 1 (-p tcp -m tcp --dport 22 -j ACCEPT) (made by ufw)"
    )
    assert rows[("client", "web", "tcp/8443", "v4")]["outcome"] == "dropped"


def test_both_sides_of_a_diff_get_the_union_of_their_ports() -> None:
    shared = Shared(timeout=30)
    got: dict[str, list[tuple[str, int]]] = {}

    def side(name: str, mine: list[tuple[str, int]]) -> None:
        got[name] = shared(mine)

    threads = [
        threading.Thread(target=side, args=("before", [("tcp", 22)])),
        threading.Thread(target=side, args=("after", [("tcp", 22), ("tcp", 80)])),
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert got == {"before": [("tcp", 22), ("tcp", 80)], "after": [("tcp", 22), ("tcp", 80)]}


def test_a_failed_side_does_not_keep_the_other_waiting() -> None:
    shared = Shared(timeout=600)
    shared.abort()  # the other side failed before it read its ports
    assert shared([("tcp", 22)]) == [("tcp", 22)]
    assert shared.failed  # so this side need not probe: the other's error is the run's


def test_a_wait_that_timed_out_is_no_failed_side() -> None:
    # the other side is slow, not failed: this side goes on with its own ports and probes
    # (a side that stopped there gave the diff no flows: every flow read as changed)
    shared = Shared(timeout=0.1)
    assert shared([("tcp", 22)]) == [("tcp", 22)]
    assert not shared.failed
