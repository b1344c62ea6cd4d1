"""nslab explore and nslab diff: a lab's flows derived from the lab, measured on the real
kernel, kept as a golden file, and two rulesets compared. Expectations are the dmz story's
ruleset (labs/dmz-edge.nft) read by hand, not what nslab printed."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from conftest import HERE_FEATURES, ROOT, host_snapshot, needs_netns, run_behave
from support.dmz import DMZ, dmz_copy, nslab

from nslab.reach import table as reach
from nslab.reach.flows import Flow

# --- on the real kernel --------------------------------------------------------------------------


def _by_flow(rows: list[dict[str, str]]) -> dict[tuple[str, str, str, str], dict[str, str]]:
    """Rows by (from, to, service, family); a flow to another address of the destination
    than its first is keyed `to@address`."""
    firsts: dict[tuple[str, str], str] = {}
    for r in rows:
        firsts.setdefault((r["to"], r["family"]), r["to_address"])
    out = {}
    for r in rows:
        to = r["to"] if firsts[(r["to"], r["family"])] == r["to_address"] else f"{r['to']}@{r['to_address']}"
        out[(r["from"], to, r["service"], r["family"])] = r
    return out


@needs_netns
def test_explore_measures_every_flow_of_the_dmz_lab(tmp_path: Path) -> None:
    before = host_snapshot()
    r = nslab("explore", "--lab", str(DMZ), "--format", "json", "--record", str(tmp_path / "dmz.reach"))
    assert r.returncode == 0, r.stderr
    assert "probing 204 flows" in r.stderr  # progress on the long wait
    rows = json.loads(r.stdout)
    # every flow, then the internet's flows to the lab's private addresses, once, unprobed
    assert len(rows) == 205 and rows[-1] == {
        "from": "the internet", "to": "private addresses", "service": "any", "family": "v4",
        "outcome": "unroutable", "decided_by": "the internet routes no private range", "seen_from": None,
        "reached": None, "from_address": None, "to_address": None, "landed_at": None,
        "to_addresses": ["edge 10.1.0.1", "edge 10.2.0.1", "pc 10.1.0.10", "web 10.2.0.10", "db 10.2.0.20"],
    }  # fmt: skip
    rows = rows[:-1]
    assert set(rows[0]) >= {"from", "to", "service", "family", "outcome", "decided_by", "seen_from"}
    assert set(rows[0]) - {"from", "to", "service", "family", "outcome", "decided_by", "seen_from"} == {
        "from_address",
        "to_address",
        "reached",
        "landed_at",
    }
    flow = _by_flow(rows)
    # the port-forward of 80 on the uplink: DNAT'd to web, which took it (README, dmz story)
    fwd = flow[("the internet", "edge@198.51.100.1", "tcp/80", "v4")]
    assert (fwd["outcome"], fwd["reached"], fwd["from_address"]) == ("accepted", "web", "198.51.100.2"), fwd
    assert "dnat to 10.2.0.10:80" in fwd["decided_by"] and "forward rule 5 (" in fwd["decided_by"], fwd
    # 443 on the uplink: no port-forward, the edge's own (it has no input chain)
    own = flow[("the internet", "edge@198.51.100.1", "tcp/443", "v4")]
    assert (own["outcome"], own["reached"]) == ("accepted", None), own
    # every address of a host: edge's DMZ side, from the LAN (its own input, no forwarding)
    dmz_side = flow[("pc", "edge@10.2.0.1", "tcp/5432", "v4")]
    assert (dmz_side["outcome"], dmz_side["from_address"], dmz_side["to_address"]) == (
        "accepted",
        "10.1.0.10",
        "10.2.0.1",
    ), dmz_side
    # the LAN reaches the DMZ on 443 and 5432 only (rule 3), both families
    for family in ("v4", "v6"):
        ok = flow[("pc", "db", "tcp/5432", family)]
        assert ok["outcome"] == "accepted" and "forward rule 3 (" in ok["decided_by"], ok
        assert "established" not in ok["decided_by"]  # the replies' rule did not decide it
        no = flow[("pc", "web", "tcp/80", family)]
        assert no["outcome"] == "dropped" and (
            "dropped by forward rule 7 (counter drop) in table inet edge at dmz-edge.nft:19"
            in no["decided_by"]
        ), no
    # the DMZ never starts a connection to the LAN
    assert flow[("web", "pc", "tcp/443", "v4")]["outcome"] == "dropped"
    # out by the uplink, masqueraded: the internet sees the edge's uplink address
    out = flow[("pc", "the internet", "tcp/443", "v4")]
    assert out["outcome"] == "accepted" and out["seen_from"] == "198.51.100.1", out
    assert "masquerade" in out["decided_by"]
    ping = flow[("pc", "the internet", "icmp", "v4")]
    assert ping["outcome"] == "replies" and ping["seen_from"] == "198.51.100.1", ping
    # no NAT66, none needed: the internet routes to the lab's global IPv6 prefixes, as the
    # real one does, so IPv6 out gets its answer home, seen from pc itself
    six = flow[("pc", "the internet", "tcp/443", "v6")]
    assert (six["outcome"], six["seen_from"]) == ("accepted", "2001:db8:1::10"), six
    # and the internet reaches pc over IPv6 up to the edge's forward chain, which drops it
    into = flow[("the internet", "pc", "tcp/443", "v6")]
    assert into["outcome"] == "dropped" and "forward rule 7 (counter drop)" in into["decided_by"], into
    # no flow to a private IPv4 address: the internet routes none (the summary row above)
    assert not [k for k in flow if k[0] == "the internet" and k[3] == "v4" and "@" not in k[1]]
    # same bridge, no firewall in the way; the listener saw the sender itself
    same = flow[("web", "db", "tcp/5432", "v4")]
    assert same["outcome"] == "accepted" and same["seen_from"] == "10.2.0.10"
    text = (tmp_path / "dmz.reach").read_text()
    assert "pc -> the internet tcp/443 v4 accepted seen from 198.51.100.1\n" in text
    assert "pc -> db tcp/5432 v6 accepted\n" in text
    assert "the internet -> edge@198.51.100.1 tcp/80 v4 accepted at web\n" in text
    assert "\n# the internet -> 5 private address(es) v4: unroutable " in text
    table = nslab("explore", "--lab", str(DMZ))
    assert table.returncode == 0, table.stderr
    assert (
        "  tcp/80 v4    198.51.100.2 -> 198.51.100.1       accepted at web:80 (seen from 198.51.100.2): "
        in (table.stdout)
    )
    assert table.stdout.count("unroutable") == 1
    assert host_snapshot() == before


@needs_netns
def test_explore_formats_and_bad_input(tmp_path: Path) -> None:
    r = nslab("explore", "--format", "csv", "--ports", "tcp/22")  # the seed lab
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    # the first columns as they were; the addresses and the place reached after them
    assert (
        lines[0]
        == "from,to,service,family,outcome,decided_by,seen_from,reached,from_address,to_address,landed_at"
    )
    assert "red,the internet,icmp,v4,replies," in r.stdout and r.stdout.count("tcp/22") == 12
    # the host's two addresses are two rows; the internet's way in is its uplink address
    assert r.stdout.count("\nred,host,tcp/22,v4,") == 2 and ",10.16.0.2,198.51.100.1," in r.stdout
    assert "\nthe internet,host,tcp/22,v4," in r.stdout and lines[-1].startswith(
        "the internet,private addresses,any,v4,unroutable,the internet routes no private range,"
    )
    assert "red,blue,tcp/22,v4,accepted," in r.stdout
    # the seed's chain NAVY is a user chain of the host's filter table: its rules decide
    # (the trace dropped them, and bridged red -> blue read "no firewall rule ... decided it")
    assert (
        "red,blue,icmp,v4,replies,accepted by NAVY rule 3 (-s 10.16.0.0/24 -d 10.16.0.0/24 -j ACCEPT),"
        in r.stdout
    )
    md = nslab("explore", "--format", "markdown")
    assert md.stdout.startswith("| from | to | service |") and md.returncode == 0
    assert md.stdout.splitlines()[0].endswith(
        "| seen_from | reached | from_address | to_address | landed_at |"
    )
    bad = nslab("explore", "--ports", "sctp/9")
    assert bad.returncode == 2 and bad.stderr.strip().splitlines() == [
        "nslab: 'sctp/9' is not a port (fix: write tcp/PORT or udp/PORT, comma-separated: tcp/22,udp/53)"
    ]


NO_5432 = ("tcp dport { 443, 5432 } counter accept", "tcp dport 443 counter accept")


@needs_netns
def test_diff_prints_only_the_flows_a_change_changes(tmp_path: Path) -> None:
    before = host_snapshot()
    mine = dmz_copy(tmp_path / "mine")
    rules = mine.with_name("dmz-edge.nft")
    rules.write_text(rules.read_text().replace(*NO_5432))
    r = nslab("diff", "--lab", str(mine), "--against", str(DMZ), "--format", "json")
    assert r.returncode == 1, r.stderr
    changed = json.loads(r.stdout)
    # deleting 5432 from rule 3: the LAN loses 5432 to both DMZ hosts, both families; only that
    assert sorted((c["from"], c["to"], c["service"], c["family"]) for c in changed) == [
        ("pc", "db", "tcp/5432", "v4"), ("pc", "db", "tcp/5432", "v6"),
        ("pc", "web", "tcp/5432", "v4"), ("pc", "web", "tcp/5432", "v6"),
    ]  # fmt: skip
    one = changed[0]
    assert one["before"]["outcome"] == "accepted" and "forward rule 3 (" in one["before"]["decided_by"]
    assert one["after"] == {
        "outcome": "dropped",
        "decided_by": "edge: dropped by forward rule 7 (counter drop) in table inet edge at dmz-edge.nft:19",
        "seen_from": None,
        "landed_at": None,
        "reached": None,
    }
    text = nslab("diff", "--lab", str(mine), "--against", str(DMZ))
    assert text.returncode == 1 and "4 flow(s) changed" in text.stdout
    assert (
        "pc -> db tcp/5432 v4: accepted" in text.stdout
        and "-> dropped (edge: dropped by forward rule 7" in text.stdout
    )
    same = nslab(
        "diff", "--lab", str(dmz_copy(tmp_path / "same")), "--against", str(DMZ), "--format", "markdown"
    )
    assert same.returncode == 0 and "no flow changed" in same.stdout, same.stdout + same.stderr
    assert host_snapshot() == before


@needs_netns
def test_diff_against_a_git_revision_reads_the_files_as_they_were(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    lab = dmz_copy(repo / "labs")
    git = ["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@example.test"]
    subprocess.run([*git, "init", "-q"], check=True)
    subprocess.run([*git, "add", "-A"], check=True)
    subprocess.run([*git, "commit", "-qm", "lab"], check=True)
    rules = lab.with_name("dmz-edge.nft")
    rules.write_text(rules.read_text().replace(*NO_5432))  # the change, not committed
    r = nslab("diff", "--lab", str(lab), "--base", "HEAD", "--format", "markdown")
    assert r.returncode == 1, r.stderr
    assert (
        "**dmz at HEAD -> " in r.stdout
        and "| pc -> db tcp/5432 v4 | **accepted**<br>edge: accepted by forward rule 3 (" in r.stdout
    )
    assert subprocess.run([*git, "status", "--porcelain"], capture_output=True, text=True).stdout.strip() == (
        "M labs/dmz-edge.nft"
    )  # nothing checked out or written in the repository
    bad = nslab("diff", "--lab", str(lab), "--base", "no-such-rev")
    assert bad.returncode == 2 and bad.stderr.strip() == (
        "nslab: unknown git revision 'no-such-rev' (fix: name a branch, tag or commit: --base main)"
    )
    neither = nslab("diff", "--lab", str(lab))
    assert neither.returncode == 2 and "give --base REV (git) or --against OTHER.toml" in neither.stderr


@needs_netns
def test_the_reachability_step_fails_with_only_the_flows_that_changed(tmp_path: Path) -> None:
    recorded = nslab("explore", "--lab", str(DMZ), "--record", str(tmp_path / "dmz.reach"))
    assert recorded.returncode == 0, recorded.stderr
    feature = HERE_FEATURES / "reachability.feature"
    args = (str(feature), "-D", f"reports={tmp_path / 'r'}", "-D", "html=", "--no-junit")
    ok = run_behave(*args, cwd=tmp_path)
    assert ok.returncode == 0, ok.stdout[-3000:]
    golden = tmp_path / "dmz.reach"
    text = golden.read_text()
    text = text.replace("pc -> db tcp/443 v4 accepted\n", "pc -> db tcp/443 v4 dropped\n")
    text = text.replace("web -> pc icmp v6 lost\n", "")  # a flow the file no longer has
    golden.write_text(text + "pc -> gone tcp/22 v4 accepted\n")  # a place the lab no longer has
    bad = run_behave(*args, cwd=tmp_path)
    assert bad.returncode == 1
    assert "3 of 205 flows differ from dmz.reach:" in bad.stdout, bad.stdout[-3000:]
    assert "pc -> db tcp/443 v4: dropped -> accepted (edge: accepted by forward rule 3 (" in bad.stdout
    assert "web -> pc icmp v6: appeared: lost (edge: dropped by forward rule 7 (counter drop)" in bad.stdout
    assert "pc -> gone tcp/22 v4: disappeared (was accepted)" in bad.stdout


@needs_netns
def test_a_flow_whose_probe_cannot_run_is_an_error_naming_why() -> None:
    from nslab.config import Settings
    from nslab.errors import ProbeError
    from nslab.reach.explore import explore
    from nslab.scenario.session import LabSession

    session = LabSession.open(Settings(lab=str(DMZ)))
    try:
        session.new_world()
        session.provision()
        session.w.run(["ip", "netns", "del", "web"], check=True)  # a step deleted it
        with pytest.raises(
            ProbeError, match=r"flow web -> db icmp v4 did not run: namespace web does not exist"
        ):
            explore(session, [Flow("pc", "db", "icmp"), Flow("web", "db", "icmp")])
    finally:
        session.close()


@needs_netns
def test_explore_and_diff_work_on_a_users_own_lab(tmp_path: Path) -> None:
    """tests/labs/three-nets.toml: three networks, two routers, r2's own nft file."""
    lab = ROOT / "tests" / "labs" / "three-nets.toml"
    r = nslab("explore", "--lab", str(lab), "--format", "json", "--record", str(tmp_path / "three.reach"))
    assert r.returncode == 0, r.stderr
    rows = json.loads(r.stdout)
    assert {("tcp", 23)} == {
        (row["service"][:3], int(row["service"][4:])) for row in rows if "/" in row["service"]
    }
    same = nslab("diff", "--lab", str(lab), "--against", str(lab))
    assert same.returncode == 0 and "no flow changed" in same.stdout
    assert reach.read_record(tmp_path / "three.reach")


@needs_netns
def test_diff_names_a_lab_file_missing_at_the_revision(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    git = ["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@example.test"]
    subprocess.run([*git, "init", "-q"], check=True)
    (repo / "README").write_text("before the lab\n")
    subprocess.run([*git, "add", "-A"], check=True)
    subprocess.run([*git, "commit", "-qm", "first"], check=True)
    lab = dmz_copy(repo / "labs")
    subprocess.run([*git, "add", "-A"], check=True)
    subprocess.run([*git, "commit", "-qm", "lab"], check=True)
    r = nslab("diff", "--lab", str(lab), "--base", "HEAD~1")
    assert r.returncode == 2 and r.stderr.strip() == (
        "nslab: labs/dmz.toml does not exist at HEAD~1 "
        "(fix: pick a revision that has the lab, or use --against)"
    )


@needs_netns
def test_a_datagram_the_internet_cannot_answer_is_no_answer_not_a_broken_helper(tmp_path: Path) -> None:
    """The internet's UDP listener could not route its echo back to the lab (no NAT66): the
    helper raised ENETUNREACH and every probe of the batch failed. Now: seen, unanswered.
    The LAN's IPv6 prefix is a ULA here: the internet routes back to global prefixes only."""
    from nslab.config import Settings
    from nslab.reach.explore import explore
    from nslab.scenario.session import LabSession

    lab = dmz_copy(tmp_path)
    lab.write_text(lab.read_text().replace("2001:db8:1::", "fd00:1::"))
    session = LabSession.open(Settings(lab=str(lab)))
    try:
        session.new_world()
        session.provision()
        (v6, v4) = explore(
            session, [Flow("pc", "the internet", "udp", 53, True), Flow("pc", "the internet", "udp", 53)]
        )
    finally:
        session.close()
    assert (v6.verdict.outcome, v4.verdict.outcome) == ("no answer", "answered")
    assert v4.verdict.seen_from == "198.51.100.1"


@needs_netns
def test_an_answer_queued_when_its_probe_times_out_is_read_not_lost() -> None:
    """The helper timed probes out before reading what was ready: under load, the first
    probes of a big batch passed their deadline while the rest were still being sent, and
    their queued answers were never read (every ping of the batch's first namespace "lost",
    a lab diffed against itself changed). A deadline already past (0 s) shows it: the
    answer of a ping to pc's own address or its router is there by the first look."""
    from nslab.config import Settings
    from nslab.scenario.session import LabSession

    session = LabSession.open(Settings(lab=str(DMZ)))
    try:
        session.new_world()
        session.provision()
        at_once = [
            {"ns": "pc", "proto": "icmp", "dst": dst, "port": 0, "timeout": 0.0}
            for dst in ("10.1.0.10", "10.1.0.1")
        ]
        session.prober.probe(at_once, ())  # the first resolves the router's address (ARP)
        results, _ = session.prober.probe(at_once, ())
    finally:
        session.close()
    assert [r["outcome"] for r in results] == ["replies", "replies"], results
