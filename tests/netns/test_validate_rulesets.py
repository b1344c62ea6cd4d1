"""`nslab validate` loads every ruleset file a lab names in a throwaway world and names the
user's file and the faulty rule's line, with a fix in words; 20 bad files of every kind."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT, host_snapshot, needs_netns, needs_sshd
from support.labs import host, lan_lab, provisioned
from support.sshd import TestSshd

from nslab.firewall.rulesets import _bisect, check_static, iptables_problem

LAB = (ROOT / "tests" / "labs" / "v6out.toml").read_text()
F = "*filter\n:INPUT ACCEPT [0:0]\n:FORWARD DROP [0:0]\n:OUTPUT ACCEPT [0:0]\n"

# (kind, file, the faulty rule's line, words of the message)
N = "table inet t {\n  chain forward {\n    type filter hook forward priority filter; policy drop;\n"
END = "  }\n}\n"
BAD = [
    ("iptables", F + "-A FORWARD -j ACCCEPT\n-A FORWARD -j DROP\nCOMMIT\n", 5, "target or chain `ACCCEPT`"),
    ("iptables", F + "-A FORWARD -p tcp --dport 22 -j ACCEPT\n-A FORWARD -j DORP\nCOMMIT\n", 6, "mean DROP?"),
    ("iptables", F + "-A FORWARD -s 10.0.0.0/33 -j ACCEPT\nCOMMIT\n", 5, "invalid mask"),
    ("iptables", F + "-A FORWARD -p tcp --dprot 22 -j ACCEPT\nCOMMIT\n", 5, 'unknown option "--dprot"'),
    (
        "iptables",
        F + "-A FORWARD -m conntrak --ctstate NEW -j ACCEPT\nCOMMIT\n",
        5,
        "did you mean conntrack?",
    ),
    ("iptables", F + "-A FORWARD -j NAVY\nCOMMIT\n", 5, "declare the chain (:NAVY - [0:0])"),
    (
        "iptables",
        F + ":NAVY - [0:0]\n-A FORWARD -j NAVY\n-A NAVY -j NAVYY\nCOMMIT\n",
        7,
        "did you mean NAVY?",
    ),
    ("iptables", F + "-A NOCHAIN -j ACCEPT\nCOMMIT\n", 5, "chain `NOCHAIN` is not declared"),
    ("ip6tables", F + "-A FORWARD -s 2001:db8::/129 -j ACCEPT\nCOMMIT\n", 5, "invalid mask `129'"),
    (
        "ip6tables",
        F + "-A FORWARD -p tcp -j ACCEPT\n-A FORWARD -j ACCEPTT\nCOMMIT\n",
        6,
        "did you mean ACCEPT?",
    ),
    (
        "ip6tables",
        F + "-A FORWARD -p ipv6-icmp --icmpv6-type echo-requst -j ACCEPT\nCOMMIT\n",
        5,
        "echo-request?",
    ),
    ("nft", N + "    tcp dport 23 rejct\n" + END, 4, "did you mean reject?"),
    ("nft", N + "    tcp dport 22 accept\n    tcp dprt 23 drop\n" + END, 5, "did you mean dport?"),
    ("nft", N + "    tcp dport 22 acept\n" + END, 4, "did you mean accept?"),
    ("nft", N + "    ip saddr 10.0.0.0/33 accept\n" + END, 4, "a prefix length is 0-32"),
    ("nft", N.replace("type filter", "type filtr") + END, 3, "did you mean filter?"),
    ("nft", N + "    ct state establishd accept\n" + END, 4, "did you mean established?"),
    ("nft", N + '    iifname "eth0" counter acccept\n' + END, 4, "did you mean accept?"),
    ("script", "#!/bin/bash\nnft add table inet t\nif then fi\n", 3, "syntax error near unexpected token"),
    ("script", "#!/bin/bash\necho ok\nfor x in a b; do\n  echo $x\n", 5, "unexpected end of file"),
]


@needs_netns
@pytest.mark.parametrize(("kind", "content", "line", "words"), BAD)
def test_validate_names_the_file_and_the_faulty_rules_line(
    tmp_path: Path, kind: str, content: str, line: int, words: str
) -> None:
    (tmp_path / "fw.rules").write_text(content)
    (tmp_path / "lab.toml").write_text(LAB.replace('{ nft = "v6out.nft" }', f'{{ {kind} = "fw.rules" }}'))
    before = host_snapshot()
    r = subprocess.run(
        [sys.executable, "-m", "nslab.cli", "validate", "lab.toml"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    assert r.returncode == 2, r.stdout + r.stderr
    (said,) = r.stderr.strip().splitlines()  # one line
    assert said.startswith(f"nslab: host gw's {kind} ruleset does not load: fw.rules: line {line}: "), said
    assert words in said, said
    if line <= len(content.splitlines()):  # (bash's end of file is past the last line)
        assert content.splitlines()[line - 1].strip() != "COMMIT"  # a rule's line, never the COMMIT
    assert host_snapshot() == before


@needs_netns
def test_validate_loads_a_good_ruleset_and_says_so(tmp_path: Path) -> None:
    argv = [sys.executable, "-m", "nslab.cli", "validate", "tests/labs/v6out.toml"]
    r = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 0 and "1 ruleset file(s) loaded in a throwaway world" in r.stdout, r.stderr


def test_a_commit_time_error_is_traced_to_its_rule_by_loading_prefixes() -> None:
    """Pure logic: a prefix of the table loads exactly when it lacks the faulty rule."""
    lines = [
        *F.splitlines(),
        "-A FORWARD -j ACCEPT",
        "-A FORWARD -m weird -j ACCEPT",
        "-A FORWARD -j DROP",
        "COMMIT",
    ]
    tried = []

    def loads(text: str) -> bool:
        tried.append(text)
        return "weird" not in text

    assert _bisect(lines, len(lines), loads) == 6
    assert len(tried) <= 2  # binary search, not one load per rule
    found = iptables_problem(
        "iptables-restore v1.8.9 (nf_tables): odd\nError occurred at line: 8\n",
        "\n".join(lines),
        Path("x"),
        loads,
    )
    assert found.line == 6


def test_without_root_the_near_misses_are_found_statically(tmp_path: Path) -> None:
    ipt = tmp_path / "a.rules"
    ipt.write_text(F + ":NAVY - [0:0]\n-A FORWARD -j NAVY\n-A NAVY -j ACCCEPT\nCOMMIT\n")
    found = check_static("iptables", ipt)
    assert found is not None and (found.line, found.fix) == (7, "did you mean ACCEPT?")
    nft = tmp_path / "a.nft"
    nft.write_text("table inet t {\n  chain c {\n    tcp dport 22 acept # a comment: rejct\n  }\n}\n")
    found = check_static("nft", nft)
    assert found is not None and (found.line, found.what) == (3, "unknown word `acept`")
    good = tmp_path / "good.nft"
    good.write_text((ROOT / "labs" / "dmz-edge.nft").read_text())
    assert check_static("nft", good) is None


# gw's forward filter in a file of its own, included from the file the lab names, as
# Debian's examples/all-in-one.nft includes its parts (`include "./inet-filter.nft"`)
FILTER = (
    "table inet filter {\n  chain forward {\n    type filter hook forward priority filter; policy drop;\n"
    "    ct state established,related counter accept\n"
    '    iif "eth0" tcp dport 80 counter accept\n  }\n}\n'
)
NAT = (
    "table inet nat {\n  chain postrouting {\n    type nat hook postrouting priority srcnat; policy accept;\n"
    '    oif "uplink0" counter masquerade\n  }\n}\n'
)


def _lab_with(tmp_path: Path, files: dict[str, str]) -> Path:
    """The v6out lab in its own folder, gw's nft file main.nft; a folder to run from that
    is not the lab's (nft read `include "./x.nft"` from its working folder)."""
    lab = tmp_path / "lab"
    lab.mkdir()
    for name, text in files.items():
        (lab / name).write_text(text)
    (lab / "lab.toml").write_text(LAB.replace('{ nft = "v6out.nft" }', '{ nft = "main.nft" }'))
    (tmp_path / "elsewhere").mkdir()
    return lab / "lab.toml"


def _nslab(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    argv = [sys.executable, "-m", "nslab.cli", *args]
    return subprocess.run(argv, cwd=tmp_path / "elsewhere", capture_output=True, text=True)


def _decided(tmp_path: Path, lab: Path, ports: tuple[str, ...] = ("--ports", "tcp/80")) -> str:
    """What decided laptop -> the internet on tcp/80 over IPv4, measured by nslab explore."""
    r = _nslab(tmp_path, "explore", "--lab", str(lab), *ports, "--format", "json")
    assert r.returncode == 0, r.stderr
    (flow,) = [
        f
        for f in json.loads(r.stdout)
        if (f["from"], f["to"], f["service"], f["family"]) == ("laptop", "the internet", "tcp/80", "v4")
    ]
    assert flow["outcome"] == "accepted", flow
    return str(flow["decided_by"])


@needs_netns
def test_a_rule_on_the_hosts_own_interface_validates_and_decides(tmp_path: Path) -> None:
    """`iif "eth0"`: nft resolves it when it loads, and the check's world had no eth0
    ("Interface does not exist") though `nslab up` loaded it; now it has gw's interfaces."""
    lab = _lab_with(tmp_path, {"main.nft": FILTER + NAT})
    before = host_snapshot()
    r = _nslab(tmp_path, "validate", str(lab))
    assert r.returncode == 0 and "1 ruleset file(s) loaded" in r.stdout, r.stderr
    assert 'accepted by forward rule 2 (iif "eth0" tcp dport 80 counter accept)' in _decided(tmp_path, lab)
    assert host_snapshot() == before


@needs_netns
def test_an_interface_the_host_lacks_is_named_with_the_hosts_interfaces(tmp_path: Path) -> None:
    lab = _lab_with(tmp_path, {"main.nft": FILTER.replace('"eth0"', '"eth7"') + NAT})
    r = _nslab(tmp_path, "validate", str(lab))
    assert r.returncode == 2, r.stdout
    (said,) = r.stderr.strip().splitlines()
    assert said.startswith("nslab: host gw's nft ruleset does not load: "), said
    assert (
        "main.nft: line 5: interface `eth7` does not exist on this host (its interfaces: eth0, uplink0)"
        in said
    )


@needs_netns
def test_an_include_is_read_from_the_including_files_folder(tmp_path: Path) -> None:
    """`include "./filter.nft"` beside main.nft, from another working folder: it validates,
    builds, and the included file's rule decides the flow; an error in the included file
    names that file and line."""
    lab = _lab_with(tmp_path, {"main.nft": 'include "./filter.nft"\n' + NAT, "filter.nft": FILTER})
    r = _nslab(tmp_path, "validate", str(lab))
    assert r.returncode == 0 and "1 ruleset file(s) loaded" in r.stdout, r.stderr
    assert 'accepted by forward rule 2 (iif "eth0" tcp dport 80 counter accept)' in _decided(tmp_path, lab)
    # explore's own flows come from the ports the rules name, the included file's too
    assert 'accepted by forward rule 2 (iif "eth0" tcp dport 80 counter accept)' in _decided(
        tmp_path, lab, ()
    )
    (lab.parent / "filter.nft").write_text(FILTER.replace("dport 80", "dprt 80"))
    r = _nslab(tmp_path, "validate", str(lab))
    (said,) = r.stderr.strip().splitlines()
    assert r.returncode == 2 and f"{lab.parent / 'filter.nft'}: line 5: " in said, said
    assert "did you mean dport?" in said, said


@needs_netns
def test_an_include_of_a_file_that_is_not_there_is_one_line(tmp_path: Path) -> None:
    lab = _lab_with(tmp_path, {"main.nft": 'include "./filtr.nft"\n' + NAT, "filter.nft": FILTER})
    r = _nslab(tmp_path, "validate", str(lab))
    (said,) = r.stderr.strip().splitlines()
    assert (
        r.returncode == 2
        and f'main.nft: line 1: include "./filtr.nft": there is no {lab.parent}/filtr.nft' in said
    ), said


@needs_sshd
def test_included_files_are_uploaded_to_an_ssh_target(sshd: TestSshd, tmp_path: Path) -> None:
    """The ssh target gets copies of the ruleset and of the file it includes (in the
    world's /run), the include pointing at the copy: the included rule decides there too."""
    lab = _lab_with(tmp_path, {"main.nft": 'include "./filter.nft"\n' + NAT, "filter.nft": FILTER})
    r = _nslab(
        tmp_path, "explore", "--lab", str(lab), "--ports", "tcp/80", "--format", "json", *sshd.userdata()
    )
    assert r.returncode == 0 and "in a world on ssh" in r.stderr, r.stderr[-2000:]
    flows = {(f["from"], f["to"], f["service"], f["family"]): f for f in json.loads(r.stdout)}
    flow = flows[("laptop", "the internet", "tcp/80", "v4")]
    assert flow["outcome"] == "accepted", flow
    assert 'accepted by forward rule 2 (iif "eth0" tcp dport 80 counter accept)' in flow["decided_by"], flow


@needs_netns
def test_rule_coverage_reads_an_included_file_as_a_file_of_its_own(tmp_path: Path) -> None:
    """The included file's rules are counted at its own lines (they were not read at all:
    the file the lab names holds only the include)."""
    (tmp_path / "lab.toml").write_text(
        lan_lab(
            "inc",
            "10.9.2.0/24",
            host("a", "10.9.2.10", network="n"),
            host("c", "10.9.2.30", network="n", firewall='{ nft = "c.nft" }'),
            network="n",
            head='[firewall]\nbackend = "nftables"\n',
        )
    )
    (tmp_path / "c.nft").write_text('# c\'s input filter, in a file of its own\ninclude "./c-input.nft"\n')
    (tmp_path / "c-input.nft").write_text(
        "table inet c {\n  chain input {\n    type filter hook input priority filter; policy accept;\n"
        "    tcp dport 80 accept\n    tcp dport 81 drop\n  }\n}\n"
    )
    with provisioned(tmp_path / "lab.toml", counting=True) as session:
        session.listen("c", "tcp", 80)
        assert session.connect("a", "c", "tcp", 80).outcome.outcome == "accepted"
        session.coverage.end(session.w, "here")
    found = {f["file"]: f for f in session.coverage.as_json()}
    assert found["c.nft"]["rules"] == []  # an include is no rule
    rules = [(r["line"], r["hits"]) for r in found["c-input.nft"]["rules"]]
    assert rules[0][0] == 4 and rules[0][1] >= 1 and rules[1] == (5, 0), rules


@needs_netns
def test_a_mutants_copy_of_the_lab_has_the_files_its_ruleset_includes(tmp_path: Path) -> None:
    """nslab mutate loads each mutant from a copy of the lab: the included file must be
    copied too, or every mutant of the including file "does not load"."""
    from nslab.coverage.mutate import Mutant, Mutator

    lab = _lab_with(tmp_path, {"main.nft": 'include "./filter.nft"\n' + NAT, "filter.nft": FILTER})
    text = (lab.parent / "main.nft").read_text().replace("masquerade", "accept")
    mutator = Mutator(lab, [], 1)
    try:
        mutant = Mutant((lab.parent / "main.nft").resolve(), "main.nft", 5, "masquerade -> accept", text)
        assert mutator.invalid([mutant]) == {}
    finally:
        mutator.close()
