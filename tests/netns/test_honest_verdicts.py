"""Honest verdicts: a negative result must prove it was measured, and say what decided it.

Each negative step is run with its probe made impossible (deleted namespace, a tool that
cannot run, no simulated internet) and must fail with one line naming why; "which rule
decided" is computed from real counters captured around a real ping (tests/data)."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import DATA, TESTS, host_snapshot, needs_netns, run_feature

from nslab.commands import Result
from nslab.errors import ProbeError
from nslab.firewall import iptables_parse
from nslab.firewall.evidence import Evidence, decisions
from nslab.lab import default_lab
from nslab.machine.provision import provision
from nslab.machine.targets.local import LocalTarget
from nslab.machine.world import World
from nslab.probe.checks import lookup, not_run, ping, seen_sources

HERE = TESTS


def result(stderr: str, rc: int = 1, stdout: str = "", timed_out: bool = False) -> Result:
    return Result("ip netns exec red ping 10.16.0.3", rc, stdout, stderr, 0.01, timed_out)


def test_not_run_names_the_reason_from_real_ip_netns_exec_output() -> None:
    missing_ns = (DATA / "netns-exec-missing-namespace.txt").read_text()
    why, fix = not_run(result(missing_ns, 255), "ping")  # type: ignore[misc]
    assert why == "namespace purple does not exist"
    # it named 'Given the lab', which builds the namespaces without their rulesets: a new
    # user who followed it got wrong verdicts
    assert "'Given the lab is fully provisioned'" in fix and "did a step delete it?" in fix
    missing_tool = (DATA / "netns-exec-missing-tool.txt").read_text()
    why, fix = not_run(result(missing_tool), "no-such-tool")  # type: ignore[misc]
    assert why == "no-such-tool is not installed" and "nslab doctor" in fix
    assert not_run(result("", 127), "ping") == (
        "ping is not installed",
        "apt-get install iputils-ping, or run `nslab doctor`",
    )
    assert not_run(result("", -9, timed_out=True), "getent")[0] == "getent did not finish in time"  # type: ignore[index]
    # a measured loss (ping exits 1 with statistics) is not a probe that did not run
    loss = (DATA / "ping-loss-forward-drop.txt").read_text()
    assert not_run(result("", 1, stdout=loss), "ping") is None


def test_which_rule_decided_from_real_counters_one_way_rule() -> None:
    """NAVY accepts red -> blue only: the requests pass NAVY rule 1, the replies meet the
    FORWARD policy. Counters captured around a real 3-packet ping."""
    before = iptables_parse.iptables_save((DATA / "evidence-one-way-before.txt").read_text())
    after = iptables_parse.iptables_save((DATA / "evidence-one-way-after.txt").read_text())
    ev = Evidence(tuple(decisions({"host": before}, {"host": after})))
    assert [d.describe() for d in ev.deciding(lost=True)] == ["dropped by FORWARD policy DROP (+3 packets)"]
    assert [d.describe() for d in ev.deciding(lost=False)] == [
        "accepted by NAVY rule 1 (-s 10.16.0.2/32 -d 10.16.0.3/32 -j ACCEPT) (+3 packets)"
    ]
    # jumps and RETURN move packets on, they decide nothing
    assert {d.target for d in ev.decisions} == {"ACCEPT", "DROP"}
    # no change, no decision; a rule inserted since counts from zero
    assert decisions({"host": after}, {"host": after}) == []
    assert Evidence().summary(lost=True) == "no firewall rule or policy counted its packets"


@needs_netns
def test_a_ping_carries_its_evidence_and_a_deleted_namespace_is_no_verdict() -> None:
    with World.start(LocalTarget()) as w:
        provision(w, default_lab(), upto="firewall")
        w.run(
            ["iptables", "-D", "NAVY", "-s", "10.16.0.0/24", "-d", "10.16.0.0/24", "-j", "ACCEPT"], check=True
        )
        lost = ping(w, "red", "10.16.0.3", interval=0.01, wait=0.1)
        assert lost.result.transmitted == 3 and lost.result.received == 0
        assert lost.why() == "3 of 3 lost (no reply); dropped by FORWARD policy DROP (+3 packets)"
        assert w.log.entries[-1].command == "ip netns exec red ping -n -c 3 -i 0.01 -W 0.1 10.16.0.3"
        w.run(["ip", "netns", "del", "red"], check=True)
        for probe_it in (
            lambda: ping(w, "red", "10.16.0.3"),
            lambda: lookup(w, "red", "www.example.test"),
            lambda: seen_sources(w, "isp"),
        ):
            with pytest.raises(ProbeError, match="does not exist, so there is no verdict"):
                probe_it()


@needs_netns
def test_every_negative_step_fails_when_its_probe_cannot_run(tmp_path: Path) -> None:
    before = host_snapshot()
    mounts = Path("/proc/self/mountinfo").read_text()
    r = run_feature(HERE / "features" / "impossible-probes.feature", tmp_path)
    out = r.stdout
    assert r.returncode == 1 and "Traceback" not in out + r.stderr, out[-3000:]
    assert "0 scenarios passed, 11 failed, 0 skipped" in out, out[-3000:]
    no_verdict = "so there is no verdict"
    for line in (
        f"ping -n -c 3 -i 0.01 -W 0.25 10.16.0.3` did not run: namespace red does not exist, {no_verdict}",
        f"did not run: ping cannot be executed: Permission denied, {no_verdict}",
        f"did not run: ping printed no statistics (ping: something odd), {no_verdict}",
        "ping sent no packets (Network is unreachable), so no loss was measured; to claim that, write: "
        'Then the ping fails with "Network is unreachable"',
        f"ping -n -c 3 -i 0.01 -W 0.25 203.0.113.10` did not run: namespace red does not exist, {no_verdict}",
        "the loss was not decided by 'NAVY': dropped by FORWARD policy DROP (+3 packets)",
        "counters moved: dropped by FORWARD policy DROP (+3 packets)",
        "`ip netns exec red getent ahosts www.example.test` did not run: namespace red does not exist, "
        + no_verdict,
        f"did not run: getent cannot be executed: Permission denied, {no_verdict}",
        f"`ip netns exec isp cat /proc/net/xt_recent/nslab-seen` did not run: namespace isp does not exist, "
        f"{no_verdict} (fix: add 'Given the simulated internet' (the upstream stage))",
        f"`ip netns exec red ip -j route` did not run: namespace red does not exist, {no_verdict}",
    ):
        assert line in out, line
    # the bind mounts over ping and getent stayed inside the worlds
    assert host_snapshot() == before
    assert Path("/proc/self/mountinfo").read_text() == mounts


@needs_netns
def test_a_missing_upstream_record_is_no_verdict() -> None:
    """The isp namespace exists but the upstream stage never ran its recorder."""
    with World.start(LocalTarget()) as w:
        w.run(["ip", "netns", "add", "isp"], check=True)
        with pytest.raises(ProbeError, match="keeps no record of pings"):
            seen_sources(w, "isp")
