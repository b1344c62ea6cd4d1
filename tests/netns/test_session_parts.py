"""The session's parts (issue 28): one needs table that the doctor, the session and the
tools read; one probe spec for a scenario's probes and explore's flows; one record of what
a scenario measured, from which the failure report is built."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from conftest import ROOT, host_snapshot, needs_netns

from nslab import needs, tools
from nslab.config import Settings
from nslab.errors import LabError
from nslab.firewall.evidence import Decision, Evidence
from nslab.lab import default_lab, load_lab
from nslab.machine import doctor
from nslab.machine.targets.registry import open_target
from nslab.probe.ports import Connection, Outcome, Service
from nslab.reach.explore import Explorer
from nslab.reach.flows import Flow
from nslab.report import failure
from nslab.scenario.record import Record
from nslab.scenario.session import LabSession

DMZ = ROOT / "labs" / "dmz.toml"


@pytest.fixture
def seed() -> Iterator[LabSession]:
    """A session on the local target with the seed lab and no world (nothing built)."""
    settings = Settings()
    session = LabSession(settings, open_target(settings, {}), default_lab())
    try:
        yield session
    finally:
        session.close()


def test_a_need_added_to_the_table_reaches_the_doctor_the_session_and_the_tools(
    seed: LabSession, monkeypatch: pytest.MonkeyPatch
) -> None:
    # a tool no machine has: one row, and all three readers know it
    row = needs.Need(
        "nslab-absent-tool",
        "tool",
        ("sh", "-c", "command -v nslab-absent-tool"),
        "a test's own need",
        "apt-get install nslab-absent-package",
        "nslab-absent-package",
        reads_only=True,
    )
    monkeypatch.setattr(needs, "NEEDS", (*needs.NEEDS, row))
    assert tools.install_hint("nslab-absent-tool") == "apt-get install nslab-absent-package"
    said = {c.name: c for c in doctor.check_tools(seed.target)}["tool nslab-absent-tool"]
    assert (said.ok, said.detail, said.fix) == (
        False,
        "not found (a test's own need)",
        "apt-get install nslab-absent-package",
    )
    assert seed.lacks("nslab-absent-tool") == (
        f"nslab-absent-tool, which {seed.target.name} lacks (apt-get install nslab-absent-package)"
    )


def test_a_need_nslab_does_not_know_is_one_line_naming_those_it_does(seed: LabSession) -> None:
    # a stage's `# needs: bridge-netfilter` (a typo) was a KeyError traceback
    with pytest.raises(LabError) as err:
        seed.require("bridge-netfilter")
    assert str(err.value).startswith("'# needs: bridge-netfilter': nslab knows no such need")
    assert "bridge netfilter" in err.value.fix and "IPv6" in err.value.fix


def test_a_scenario_probe_and_an_explored_flow_are_one_spec() -> None:
    settings = Settings(lab=str(DMZ))
    session = LabSession(settings, open_target(settings, {}), load_lab(DMZ))
    try:
        explorer = Explorer(session)
        for proto, port in (("tcp", 80), ("udp", 53), ("icmp", 0)):
            flow = Flow("pc", "web", proto, port)
            step = session.probes.spec("pc", "web", Service(proto, port)).request()
            assert explorer._spec(flow) == step, proto
        assert step["timeout"] == settings.ping_wait  # icmp waits a ping's wait
    finally:
        session.close()


def test_the_failure_report_is_built_from_the_record(seed: LabSession) -> None:
    decided = Decision("host", "filter", "FORWARD", 3, "DROP", "-j DROP", 1)
    flow = Flow.of("red", "blue", Service("tcp", 80))
    conn = Connection(flow, "10.16.0.3", Outcome("dropped"), Evidence((decided,)))
    seed.record.connected(conn)
    seed.record.flow = ("red", "the gateway")  # an address, no namespace: unmarked
    seed.record.expected_got = [["red", "blue", "tcp/80", "accepted", "dropped", "FORWARD"]]
    report = failure.of(seed, "===== why it failed =====\nThen ...\n\n")
    assert report.bundle.startswith("===== why it failed =====")
    assert "(no world was running)" in report.bundle  # nothing built: said, not guessed
    assert report.table == seed.record.expected_got
    assert failure.flow_marks(seed) == {"red": "source"}
    assert seed.record.deciding_places() == ["host"]
    assert seed.record.sections() == {"last connection": f"{conn.describe()}\nwhy: {conn.why()}"}
    assert report.diagram.startswith("<p>no diagram: no world is running")


@needs_netns
def test_each_scenario_starts_with_a_fresh_record(seed: LabSession) -> None:
    before = host_snapshot()
    seed.new_world()
    seed.provision(only=["topology"])
    seed.ping("red", "blue", count=1)
    assert seed.record.ping is not None and seed.record.verdict is seed.record.ping
    assert seed.record.flow == ("red", "blue")
    seed.new_world()
    assert seed.record == Record()
    assert seed.w is seed.world  # `w`: the old name, kept for custom steps
    seed.end_world()
    assert host_snapshot() == before
