"""nslab mutate through the firewall managers, for real (ufw and firewalld in worlds): one
ufw rule and one firewalld zone port are reached by the scenario, one of each is not, and
exactly the unreached one's mutants survive; a mutant the manager refuses is `invalid`,
never killed. How the mutants are made (pure): tests/unit/test_manager_mutants.py.

    a 10.43.0.10 ---- br-mm ----+---- u 10.43.0.20 (ufw: 22/tcp, 8080/tcp)
                                +---- f 10.43.0.30 (firewalld: 8443/tcp, 9443/tcp)

tests/labs/mutate-managers.toml gives u's ufw as commands, mutate-managers-folder.toml as
a folder (mutate-managers-ufw/user.rules); the features reach u's 22 and f's 8443.
"""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import replace

from conftest import HERE_FEATURES, ROOT, host_snapshot, needs_netns
from test_manager_world import machine, needs_managers

from nslab.coverage.mutate import Mutator, every_mutant, text_report

LABS = ROOT / "tests" / "labs"
NSLAB = [sys.executable, "-m", "nslab.cli"]


@needs_netns
@needs_managers
def test_exactly_the_unreached_ufw_command_and_zone_ports_mutants_survive() -> None:
    before, rules = machine(), host_snapshot()
    lab = LABS / "mutate-managers.toml"
    r = subprocess.run(
        [
            *NSLAB,
            "mutate",
            "--lab",
            str(lab),
            "-j",
            "2",
            "--format",
            "json",
            str(HERE_FEATURES / "mutate-managers"),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert r.returncode == 0, r.stderr[-3000:]
    got = {m["mutation"]: m for m in json.loads(r.stdout)}
    status = {k: m["status"] for k, m in got.items()}
    u = "host u ufw command"
    free = "which no other rule of u names"
    assert status == {
        f"{u} 1 `allow 22/tcp` -> `deny 22/tcp`": "killed",
        f"{u} 1 `allow 22/tcp` -> `allow 23/tcp` (port 22 moved to 23, {free})": "killed",
        f"{u} 2 `allow 8080/tcp` -> `deny 8080/tcp`": "survived",
        f"{u} 2 `allow 8080/tcp` -> `allow 8081/tcp` (port 8080 moved to 8081, {free})": "survived",
        '<port protocol="tcp" port="8443"/> removed': "killed",
        '<port protocol="tcp" port="9443"/> removed': "survived",
    }, r.stderr[-3000:]
    zone = got['<port protocol="tcp" port="9443"/> removed']
    assert (zone["file"], zone["line"], zone["host"], zone["manager"]) == (
        "mutate-managers-firewalld/zones/public.xml",
        6,
        "f",
        "firewalld",
    )
    assert zone["why"].startswith("1 passing scenario ran, none turned red")  # and its hits, if counted
    assert got[f"{u} 1 `allow 22/tcp` -> `deny 22/tcp`"]["file"] == "mutate-managers.toml"
    assert r.stderr.strip().splitlines()[-1] == "mutation score: 3 of 6 mutants killed"
    assert machine() == before and host_snapshot() == rules


@needs_netns
@needs_managers
def test_user_rules_mutants_run_and_one_ufw_refuses_is_invalid_not_killed() -> None:
    """u's ufw as a folder: its user.rules' mutants load in ufw for real (turning 22 kills,
    8080's survive); a user.rules that does not load (`-j NOSUCH`) is `invalid`, with
    the faulty line, before any run (it would fail the build and turn the scenario red: never
    a kill)."""
    before = machine()
    lab_path = LABS / "mutate-managers-folder.toml"
    mutator = Mutator(lab_path, [str(HERE_FEATURES / "mutate-managers-folder")], jobs=2)
    try:
        found, unmade = every_mutant(mutator.lab, lab_path)
        ufw = [m for m in found if m.manager == "ufw"]
        assert unmade == [] and len(ufw) == 4
        text = ufw[0].file.read_text().replace("-j ACCEPT\n", "-j NOSUCH\n")
        broken = replace(ufw[0], mutation=ufw[0].mutation.split(": ")[0] + ": -j NOSUCH", text=text)
        results = mutator.run([*ufw, broken])
    finally:
        mutator.close()
    got = {r.mutant.mutation.split(": ", 1)[-1]: (r.status, r.why) for r in results}
    by_line = [(r.mutant.line, r.mutant.mutation.split(": ", 1)[-1], r.status) for r in results]
    assert by_line == [
        (20, "allow -> deny", "killed"),
        (20, "port 22 -> 23 (a port no other rule of u names)", "killed"),
        (23, "allow -> deny", "survived"),
        (23, "port 8080 -> 8081 (a port no other rule of u names)", "survived"),
        (20, "-j NOSUCH", "invalid"),
    ]
    # refused before any run, by the load of the folder's rules files `nslab validate` makes
    assert got["-j NOSUCH"][1].startswith("host u's ufw folder does not load: "), got["-j NOSUCH"]
    assert "user.rules: line " in got["-j NOSUCH"][1] and "`NOSUCH`" in got["-j NOSUCH"][1]
    report = text_report(results, mutator.baseline)
    assert "1 mutant(s) did not load and are not scored" in report
    assert report[-1] == "mutation score: 2 of 4 mutants killed"
    assert machine() == before


@needs_netns
@needs_managers
def test_mutants_the_managers_own_checks_refuse_are_invalid_before_any_run() -> None:
    """Before any scenario runs: a ufw command ufw's parser refuses, a zone firewalld's
    check refuses, each `invalid` with the manager's words (a mutant nslab makes is never
    refused by these: the two are made by hand here)."""
    lab_path = LABS / "mutate-managers.toml"
    mutator = Mutator(lab_path, [str(HERE_FEATURES / "mutate-managers")], jobs=2)
    try:
        found, _ = every_mutant(mutator.lab, lab_path)
        command = next(m for m in found if m.manager == "ufw")
        zone = next(m for m in found if m.manager == "firewalld")
        bad = [
            replace(command, text=command.text.replace('"allow 8080/tcp"', '"allow 99999/tcp"')),
            replace(
                zone, text=zone.text.replace('<port protocol="tcp" port="9443"/>', '<service name="nope"/>')
            ),
            command,
        ]
        said = mutator.invalid(bad)
    finally:
        mutator.close()
    assert said == {
        0: "ufw refuses `ufw allow 99999/tcp`: Bad port",
        1: "host f: firewalld refuses its folder mutate-managers-firewalld: INVALID_SERVICE: Zone 'public': "
        "'nope' not among existing services",
    }
