"""Reports a person reads: JUnit XML, the HTML page in a real browser, the lab diagram."""

from __future__ import annotations

import html
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT, SEED_STORY, TESTS, host_snapshot, needs_netns, run_behave

from nslab.lab import default_lab, load_lab
from nslab.report import diagram
from nslab.report.junit import read as junit_suites

HERE = TESTS
NSLAB = [sys.executable, "-m", "nslab.cli"]


@needs_netns
def test_junit_counts_the_same_scenarios_as_behave(tmp_path: Path) -> None:
    junit = tmp_path / "junit"
    junit.mkdir()
    stale = junit / "TESTS-nslab.xml"  # an earlier parallel run's merged file
    stale.write_text('<testsuite name="old" tests="1"><testcase classname="old" name="gone"/></testsuite>')
    stories = [*SEED_STORY, "features/dmz"]  # outline rows, and features in a folder
    r = run_behave(*stories, "-f", "progress", "--junit-directory", str(junit), "-D", f"reports={tmp_path}")
    assert r.returncode == 0
    import re

    passed = int(re.search(r"(\d+) scenarios? passed", r.stdout)[1])  # type: ignore[index]
    cases = []
    for path in junit.glob("*.xml"):
        for suite in junit_suites(path):
            cases.extend(suite)
    assert len(cases) == passed
    assert all(case.is_passed for case in cases)
    assert not stale.exists()


def chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


def _browser_flags(tmp_path: Path) -> list[str]:
    return [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={tmp_path / 'profile'}",
    ]


def _dom(page: Path, tmp_path: Path) -> str:
    """The page as a real browser built it (headless Chromium's --dump-dom)."""
    dumped = subprocess.run(
        [chromium(), *_browser_flags(tmp_path), "--dump-dom", page.as_uri()],  # type: ignore[list-item]
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert dumped.returncode == 0, dumped.stderr[-2000:]
    return dumped.stdout


@needs_netns
@pytest.mark.skipif(chromium() is None, reason="needs Debian's chromium (run .ci/setup)")
def test_html_report_leads_with_the_failure(tmp_path: Path) -> None:
    # a page of its own: the default (reports/index.html of the checkout) is written by
    # every other test's behave run that does not set html, at the same time on other
    # workers (a run of the three-namespace feature's page was read here once)
    page = tmp_path / "page" / "index.html"
    shot = tmp_path / "page" / "screenshots" / "failing-scenario.png"
    r = run_behave(
        "features/01-base-lab.feature",
        str(HERE / "features" / "deliberate-failure.feature"),
        str(HERE / "features" / "host-scenario.feature"),
        "-D",
        f"reports={tmp_path}",
        "-D",
        f"html={page}",
    )
    assert r.returncode == 1
    dom = _dom(page, tmp_path)
    # the run's name, and a summary before any scenario, the failure linked from it
    assert "<title>nslab: nslab · lab seed · target local</title>" in dom
    summary = dom.index('class="summary"')
    assert "1 failed" in dom[summary : summary + 400] and "skipped" in dom[summary : summary + 400]
    link = dom.index('href="#failure-1"')
    failure = dom.index('id="failure-1"')
    first_passed = dom.index('id="passed"')
    assert summary < link < failure < first_passed  # the failure before every passed scenario
    # the failing step's expected-vs-got table, with the deciding rule
    table = dom[dom.index('class="expected-got"', failure) :]
    table = table[: table.index("</table>")]
    for cell in ("red", "blue", "icmp (ping)", "0% loss", "100% loss", "dropped by FORWARD policy DROP"):
        assert f">{cell}" in table, cell
    # the diagram at the failure marks the flow's source and destination
    diagram = dom[dom.index('class="diagram"', failure) :]
    diagram = diagram[: diagram.index("</svg>")]
    assert "namespace red (source)" in diagram and "namespace blue (destination)" in diagram
    # diagnostics one section per place, the deciding place (the host's FORWARD) first
    places = re.findall(r'<details class="place"[^>]*><summary>([^<]+)</summary>', dom[failure:])
    assert places[:2] == ["the probe", "host"] and "red" in places and "blue" in places
    assert places[-1] == "commands this scenario ran"
    host = dom[dom.index("<summary>host</summary>", failure) :]
    assert host.index(":FORWARD DROP") < host.index("link/loopback")  # rules, not a wall of links
    # skipped scenarios say why
    skipped = dom[dom.index('id="skipped"') :]
    assert "disposable VM" in skipped[: skipped.index("</table>")]
    # every step, command and output: the steps page, linked
    assert 'href="steps.html"' in dom
    steps = _dom(page.with_name("steps.html"), tmp_path)
    assert "expecting replies where FORWARD drops them" in steps
    assert "Diagnostics (nslab)" in steps and ":FORWARD DROP" in steps and "[red] addresses" in steps
    assert "Lab diagram, as it was at the failure" in steps and "<svg" in steps and "veth1-red" in steps
    assert "Commands and outputs" in steps  # passed scenarios carry theirs, collapsed
    shot.parent.mkdir(parents=True, exist_ok=True)
    size = "--window-size=1280,1800"
    taken = subprocess.run(
        [chromium(), *_browser_flags(tmp_path), size, f"--screenshot={shot}", page.as_uri()],  # type: ignore[list-item]
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert taken.returncode == 0, taken.stderr[-2000:]
    assert shot.exists() and shot.stat().st_size > 10_000


@needs_netns
@pytest.mark.skipif(chromium() is None, reason="needs Debian's chromium (run .ci/setup)")
def test_a_failing_matrix_is_a_table_of_its_rows_in_the_report(tmp_path: Path) -> None:
    page = tmp_path / "index.html"
    r = run_behave(
        str(HERE / "features" / "ports-wrong.feature") + ":53",
        "-D", f"reports={tmp_path}", "-D", f"html={page}", "--no-junit",
    )  # fmt: skip
    assert r.returncode == 1, r.stdout[-2000:]
    dom = _dom(page, tmp_path)
    table = dom[dom.index('class="expected-got"') :]
    table = table[: table.index("</table>")]
    rows = re.findall(r"<tr>(.*?)</tr>", table)
    head = re.findall(r"<th>([^<]*)</th>", rows[0])
    assert head == ["from", "to", "service", "expected", "got", "decided by"]
    assert len(rows) == 3  # the heading and the two rows that differ
    for row in rows[1:]:
        cells = re.findall(r"<td[^>]*>([^<]*)</td>", row)
        assert len(cells) == 6 and cells[3] != cells[4] and cells[5], cells
    assert "(source)" in dom and "(destination)" in dom


@pytest.mark.parametrize("lab_file", ["seed.toml", "three-ns.toml"])
@pytest.mark.parametrize("fmt", ["mmd", "dot", "svg"])
def test_diagram_shows_every_namespace_interface_and_address(tmp_path: Path, lab_file: str, fmt: str) -> None:
    if fmt == "svg" and shutil.which("dot") is None:
        pytest.skip("needs graphviz (run .ci/setup)")
    out = tmp_path / f"lab.{fmt}"
    r = subprocess.run(
        [*NSLAB, "diagram", "--detail", "--lab", str(ROOT / "labs" / lab_file), "-o", str(out)],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert r.returncode == 0, r.stderr
    text = html.unescape(out.read_text())  # SVG writes '-' as &#45;
    lab = load_lab(ROOT / "labs" / lab_file)
    for host, leg, _ in lab.attachments():
        for piece in (host.name, leg.name, leg.peer, str(leg.address)):
            assert piece in text, piece
    (lan,) = lab.networks
    for piece in (
        lan.bridge,
        str(lan.gateway),
        lab.upstream.uplink,
        lab.upstream.peer,
        str(lab.upstream.server),
        str(lab.upstream.host_address),
    ):
        assert piece in text, piece
    if fmt != "mmd":
        assert lab.firewall is not None
        assert "MASQUERADE" in text and lab.firewall.chain in text


def test_diagram_refuses_unknown_formats(tmp_path: Path) -> None:
    r = subprocess.run([*NSLAB, "diagram", "-o", str(tmp_path / "lab.gif")], capture_output=True, text=True)
    assert r.returncode == 1 and "use .svg, .png, .mmd or .dot" in r.stderr


def test_differences_name_what_is_missing_extra_or_wrong() -> None:
    lab = default_lab()
    want = diagram.expected(lab)
    have = diagram.Topology(
        [i for i in want.ifaces if i.name != "veth0-blue"] + [diagram.Iface("host", "eth9")]
    )
    have.ifaces = [diagram.Iface(i.ns, i.name, ()) if i.name == "br0" else i for i in have.ifaces]
    diff = diagram.differences(want, have)
    assert diff.missing == ["host/veth0-blue"]
    assert diff.extra == ["host/eth9"]
    assert diff.wrong == ["host/br0 lacks 10.16.0.1/24"]


@needs_netns
def test_live_diagram_detects_a_link_removed_behind_its_back(tmp_path: Path) -> None:
    env = {"NSLAB_STATE": str(tmp_path / "lab.json"), "PATH": "/usr/sbin:/usr/bin:/sbin:/bin"}
    import os

    env = {**os.environ, **env}
    before = host_snapshot()
    assert subprocess.run([*NSLAB, "up"], env=env, capture_output=True).returncode == 0
    try:
        clean = subprocess.run(
            [*NSLAB, "diagram", "--live", "-o", str(tmp_path / "a.mmd")],
            env=env,
            capture_output=True,
            text=True,
        )
        assert clean.returncode == 0, clean.stderr
        subprocess.run([*NSLAB, "exec", "host", "--", "ip", "link", "del", "veth0-blue"], env=env, check=True)
        r = subprocess.run(
            [*NSLAB, "diagram", "--live", "-o", str(tmp_path / "b.mmd")],
            env=env,
            capture_output=True,
            text=True,
        )
        assert r.returncode == 4
        assert "missing: host/veth0-blue" in r.stderr and "missing: blue/veth1-blue" in r.stderr
        assert "MISSING" in (tmp_path / "b.mmd").read_text()
    finally:
        subprocess.run([*NSLAB, "down"], env=env, capture_output=True)
    assert host_snapshot() == before
