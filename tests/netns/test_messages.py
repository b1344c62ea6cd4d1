"""Messages and pictures a new user reads: the report's title and failing step, the
matrix's bad rows, lab-file positions, 'did you mean', listings without nslab's own rules,
mutate's cleanup, the diagram."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import ROOT, TESTS, host_snapshot, needs_netns, run_behave, run_feature

HERE = TESTS
NSLAB = [sys.executable, "-m", "nslab.cli"]
MUTATE_LAB = ROOT / "tests" / "labs" / "mutate.toml"


@needs_netns
def test_the_report_names_the_lab_run_on_and_the_failing_steps_own_line(tmp_path: Path) -> None:
    page = tmp_path / "index.html"
    feature = HERE / "features" / "report-lab-title.feature"
    r = run_behave(str(feature), "-D", f"reports={tmp_path}", "-D", f"html={page}", "--no-junit")
    assert r.returncode == 1, r.stdout[-2000:]
    text = page.read_text()
    # the project's lab is the seed; the scenario ran on three-ns.toml's lab, named 'three'
    assert "<title>nslab: nslab · lab three · target local</title>" in text
    (failed,) = json.loads(page.with_suffix(".json").read_text())["records"]
    lines = feature.read_text().splitlines()
    step_line = next(n for n, line in enumerate(lines, 1) if "purple" in line)
    assert failed["step_location"].endswith(f"report-lab-title.feature:{step_line}")
    assert f"report-lab-title.feature:{step_line}</span>" in text
    assert failed["location"].endswith(":5")  # the scenario's own line stays the record's key


def test_a_merged_report_names_every_lab_its_scenarios_ran_on() -> None:
    from nslab.report.html import Record, titled

    runs = [
        Record("f", "s1", "a.feature:2", "passed", lab="three"),
        Record("g", "s2", "b.feature:2", "failed", lab="seed"),
        Record("h", "s3", "c.feature:2", "skipped", lab="dmz"),  # skipped: it ran on none
    ]
    assert titled("nslab: p · lab seed · target local", runs) == "nslab: p · labs three, seed · target local"
    assert titled("nslab: p · lab seed · target local", []) == "nslab: p · lab seed · target local"


@needs_netns
def test_a_matrix_names_every_bad_row_whatever_is_wrong_with_it(tmp_path: Path) -> None:
    r = run_feature(HERE / "features" / "matrix-bad-rows.feature", tmp_path)
    assert r.returncode == 1
    out = r.stdout
    assert "3 matrix rows are wrong:" in out, out[-3000:]
    assert "row 2 (red | purple | tcp/80 | accepted): unknown destination 'purple'" in out, out[-3000:]
    assert "row 3 (red | blue | udp/99999 | accepted): port 99999 is out of range" in out
    assert "row 4 (blue | red | tcp/22 | acepted): 'acepted' is not an outcome of tcp" in out
    assert "row 1 (" not in out  # the good row is not named


def test_lab_file_errors_name_a_host_by_its_name_where_it_has_one() -> None:
    from nslab.config import tomllib
    from nslab.errors import LabError
    from nslab.lab.tables import read_lab

    net = '[[network]]\nname = "a"\nsubnet = "10.1.0.0/24"\n'
    ok = '[[host]]\nname = "pc"\ninterfaces = [{ network = "a", address = "10.1.0.10" }]\n'
    for host, named in (
        # the second host's address is wrong: its name, not its place in the file
        (
            'name = "web"\ninterfaces = [{ network = "a", address = "10.2.0.10" }]\n',
            "host web.interfaces #1.address",
        ),
        # an interface the file names is named too
        (
            'name = "web"\ninterfaces = [{ name = "lan0", network = "b", address = "10.1.0.11" }]\n',
            "host web.interfaces lan0.network",
        ),
        (
            'name = "web"\ninterfaces = [{ network = "a", address = "10.1.0.11" }]\nrouter = "yes"\n',
            "host web.router",
        ),
        # no name to give: the position stays
        ('interfaces = [{ network = "a", address = "10.1.0.11" }]\n', "host #2.name"),
        ('name = "Web"\ninterfaces = [{ network = "a", address = "10.1.0.11" }]\n', "host #2.name"),
    ):
        with pytest.raises(LabError) as err:
            read_lab(tomllib.loads(net + ok + "[[host]]\n" + host), Path("."))
        assert str(err.value).startswith(named + ":"), str(err.value)
    overlap = net + net.replace('"a"', '"b"') + ok
    with pytest.raises(LabError, match=r"^network b: 10.1.0.0/24 overlaps 10.1.0.0/24 of network a \(fix"):
        read_lab(tomllib.loads(overlap), Path("."))


@needs_netns
def test_an_undefined_variable_in_a_ruleset_gets_no_far_suggestion(tmp_path: Path) -> None:
    """`$lan_if`, never defined: nslab read its piece `lan` as a word and said 'did you
    mean vlan?'. It names the variable, and suggests a define only where one is close."""
    import subprocess
    import sys

    from conftest import ROOT, host_snapshot

    lab = (ROOT / "tests" / "labs" / "v6out.toml").read_text()
    (tmp_path / "lab.toml").write_text(lab.replace('{ nft = "v6out.nft" }', '{ nft = "fw.nft" }'))
    rule = "table inet t {\n  chain forward {\n    type filter hook forward priority filter; policy drop;\n"
    before = host_snapshot()
    for defined, fix in (
        ("wan_dev", "(fix: define lan_if before its use (define lan_if = ...))"),
        ("lan_iff", "(fix: did you mean $lan_iff?)"),
    ):
        text = f'define {defined} = "eth0"\n{rule}    iifname $lan_if accept\n  }}\n}}\n'
        (tmp_path / "fw.nft").write_text(text)
        argv = [sys.executable, "-m", "nslab.cli", "validate", "lab.toml"]
        r = subprocess.run(argv, cwd=tmp_path, capture_output=True, text=True)
        assert r.returncode == 2, r.stdout + r.stderr
        (said,) = r.stderr.strip().splitlines()
        assert said.endswith(f"fw.nft: line 5: unknown identifier 'lan_if' {fix}"), said
        assert "vlan" not in said
    assert host_snapshot() == before


def test_did_you_mean_names_only_near_spellings() -> None:
    from nslab.behave.suggest import closest

    known = ["the connection is refused", "the connection is dropped", "the datagram is answered"]
    known += ["{src} pings {dest}", "the reachability matrix holds"]
    assert closest("the moon is full", known) == []
    assert closest("the cat is dropped", known) == []
    assert closest("the conection is droped", known) == ["the connection is dropped"]
    assert closest("red ping blue", known) == ["{src} pings {dest}"]


@needs_netns
def test_no_listing_a_user_reads_shows_nslabs_own_counting_rules(tmp_path: Path) -> None:
    """Rule coverage adds rules of its own (`comment "nslab-count"`, `"nslab-nd"`) to b's
    copy of ndcov.nft: the step's listing and the failure's diagnostics bundle leave them
    out, and still show the user's rules."""
    r = run_feature(HERE / "features" / "listing-own-rules.feature", tmp_path)
    assert r.returncode == 1, r.stdout[-2000:]
    assert "b's ruleset has no line 'a line that is not there'" in r.stdout
    assert "tcp dport 443 accept" in r.stdout and "nslab-" not in r.stdout
    (bundle,) = (tmp_path / "diagnostics").glob("*.txt")
    text = bundle.read_text()
    assert "[b] rules and counters" in text and "tcp dport 443 accept" in text
    assert "nslab-" not in text, [line for line in text.splitlines() if "nslab-" in line]


def test_nslabs_rules_leave_every_listing_form() -> None:
    """iptables -L's `/* nslab-nd */`, iptables-save's `--comment nslab-nd`, nft's
    `comment "nslab-count"` and nft's JSON, each without nslab's rule, the user's kept."""
    from nslab.parse import without_nslab

    listed = "ACCEPT  all  --  anywhere  anywhere  /* nslab-nd */\nDROP  all  --  anywhere  anywhere\n"
    assert without_nslab(listed) == "DROP  all  --  anywhere  anywhere\n"
    saved = "-A INPUT -p icmpv6 -m comment --comment nslab-nd\n-A INPUT -j DROP\n"
    assert without_nslab(saved) == "-A INPUT -j DROP\n"
    mine = {"rule": {"family": "inet", "table": "b", "chain": "c", "handle": 3, "comment": "nslab-count"}}
    theirs = {"rule": {"family": "inet", "table": "b", "chain": "c", "handle": 4}}
    line = json.dumps({"nftables": [{"table": {"family": "inet", "name": "b"}}, mine, theirs]})
    assert json.loads(without_nslab(line))["nftables"] == [{"table": {"family": "inet", "name": "b"}}, theirs]


def _tree(pid: int) -> list[int]:
    """Every process below `pid`, children of any of its threads (mutate starts its
    behaves from a pool's threads; /proc's children file is per thread)."""
    found: list[int] = []
    todo = [pid]
    while todo:
        try:
            tasks = list(Path(f"/proc/{todo.pop()}/task").iterdir())
        except OSError:  # gone meanwhile
            continue
        for task in tasks:
            try:
                kids = [int(k) for k in (task / "children").read_text().split()]
            except OSError:
                continue
            found.extend(k for k in kids if k not in found)
            todo.extend(kids)
    return found


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_text(errors="replace")
    except OSError:  # gone meanwhile
        return ""


@needs_netns
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["TERM", "INT"])
def test_a_stopped_mutate_leaves_no_folder_namespace_or_process(tmp_path: Path, sig: signal.Signals) -> None:
    """`nslab mutate` stopped mid-run (a cancelled CI job: TERM; Ctrl-C: INT, sent to
    nslab alone) ends the behaves it started and removes its scratch folder. It ran
    under a subreaper, so whatever it left running is found even once orphaned."""
    from support.procs import _REAPER, alive

    temp = tmp_path / "tmp"  # every temp file of the run and its behaves lands here
    temp.mkdir()
    left = tmp_path / "left.json"
    before = host_snapshot()
    argv = [*NSLAB, "mutate", "--lab", str(MUTATE_LAB), "-j", "2", str(HERE / "features" / "mutate")]
    reaper = subprocess.Popen(
        [sys.executable, "-c", _REAPER, str(HERE / "support"), str(left), *argv],
        cwd=ROOT, env={**os.environ, "TMPDIR": str(temp)},
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        running: list[int] = []
        while time.monotonic() < deadline:  # mid-run: nslab, its behaves and their worlds
            kids = [p for p in _tree(reaper.pid) if alive(p)]
            nslab_pid = kids[0] if kids else None
            running = [p for p in kids if "behave" in _cmdline(p)]
            if nslab_pid and running and any(temp.glob("nslab-mutate-*/m*/reports")):  # mutants running
                break
            time.sleep(0.05)
        assert running and nslab_pid, "nslab mutate never got to run a mutant"
        os.kill(nslab_pid, sig)
        _, err = reaper.communicate(timeout=120)
    finally:
        if reaper.poll() is None:
            reaper.kill()
    assert json.loads(left.read_text() or "[]") == [], err[-2000:]  # no process outlived it
    assert list(temp.iterdir()) == [], err[-2000:]  # no scratch folder, no temp file
    assert host_snapshot() == before  # no namespace, link or rule
    assert reaper.returncode == 130, err[-2000:]
    assert "mutate stopped" in err


def _graph(dot_file: Path) -> tuple[dict[str, str], list[tuple[str, str, str]]]:
    """A DOT file as Graphviz itself reads it (`dot -Tjson`): {node: label}, edges."""
    laid = json.loads(subprocess.run(["dot", "-Tjson", str(dot_file)], capture_output=True, text=True).stdout)
    objects = laid.get("objects", [])
    nodes = {o["name"]: o.get("label", "") for o in objects if "nodes" not in o}
    edges = [
        (objects[e["tail"]]["name"], objects[e["head"]]["name"], e.get("label", "")) for e in laid["edges"]
    ]
    return nodes, edges


@pytest.mark.skipif(not shutil.which("dot"), reason="needs graphviz (run .ci/setup)")
def test_the_diagram_draws_the_logical_lab_and_the_plumbing_on_request(tmp_path: Path) -> None:
    from nslab.lab import load_lab

    lab_file = ROOT / "labs" / "dmz.toml"
    lab = load_lab(lab_file)
    out = tmp_path / "lab.dot"
    r = subprocess.run(
        [*NSLAB, "diagram", "--lab", str(lab_file), "-o", str(out)], capture_output=True, text=True
    )
    assert r.returncode == 0, r.stderr
    nodes, edges = _graph(out)
    labels = {label.splitlines()[0]: label for label in nodes.values()}
    for net in lab.networks:  # each network with its subnets
        assert all(str(s) in labels[f"network {net.name}"] for s in (net.subnet, net.subnet6) if s)
    assert "router" in labels["edge"] and "nft: dmz-edge.nft" in labels["edge"]
    internet = labels["the internet (simulated)"]
    assert str(lab.upstream.server) in internet and str(lab.upstream.dns) in internet
    # each host joined to its network, the edge saying its addresses there
    named = {n: label.splitlines()[0] for n, label in nodes.items()}
    joined = {(named[a], named[b]): label for a, b, label in edges}
    for host, iface, net in lab.attachments():
        label = joined[(host.name, f"network {net.name}")]
        assert all(str(a.ip) in label for a in (iface.address, iface.address6) if a), (host.name, label)
    assert str(lab.upstream.host_address.ip) in joined[("edge", "the internet (simulated)")]
    # the plumbing is not in it: no veth, bridge or isp namespace
    text = out.read_text()
    for piece in (lab.upstream.uplink, lab.upstream.peer, *(n.bridge for n in lab.networks)):
        assert piece not in text, piece
    assert not any(i.name in text for _, i, _ in lab.attachments() if i.name.startswith("eth"))
    # --detail: the plumbing, as before
    r = subprocess.run(
        [*NSLAB, "diagram", "--detail", "--lab", str(lab_file), "-o", str(out)],
        capture_output=True,
        text=True,
    )
    assert r.returncode == 0, r.stderr
    text = out.read_text()
    assert all(n.bridge in text for n in lab.networks) and lab.upstream.uplink in text
