"""Routed labs (lab file v2): every bad file and ruleset is one line naming the field or the
line; a user's lab (three networks, two routers, IPv6, an nft ruleset) works through
validate, up, status, diagram and a feature of its own."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT, TESTS, host_snapshot, needs_netns, run_behave, run_feature

from nslab.errors import LabError
from nslab.lab import load_lab
from nslab.machine.sysctls import KernelSysctls, check_sysctls
from nslab.machine.targets.local import LocalTarget

HERE = TESTS
NET = '[[network]]\nname = "lan"\nsubnet = "10.1.0.0/24"\nsubnet6 = "2001:db8:1::/64"\n'
PC = '[[host]]\nname = "pc"\ninterfaces = [{ network = "lan", address = "10.1.0.10" }]\n'

BAD = {
    "no-networks": ('[[host]]\nname = "pc"\n', "a lab needs at least one [[network]]"),
    "no-hosts": (NET, "a lab needs at least one [[host]]"),
    "overlap": (
        NET + NET.replace('"lan"', '"lan2"').replace("10.1.0.0/24", "10.1.0.128/25") + PC,
        "overlaps 10.1.0.0/24",
    ),
    "overlap-v6": (
        NET + '[[network]]\nname = "x"\nsubnet6 = "2001:db8:1::/64"\n' + PC,
        "2001:db8:1::/64 overlaps 2001:db8:1::/64",
    ),
    "bad-v6-prefix": (NET.replace("/64", "/80") + PC, "/80 is longer than /64"),
    "v6-not-v6": (NET.replace('"2001:db8:1::/64"', '"10.9.0.0/24"') + PC, "is an IPv4 subnet"),
    "bad-cidr": (NET.replace("10.1.0.0/24", "10.1.0.0/33") + PC, "is not a subnet"),
    "unknown-network": (NET + PC.replace('network = "lan"', 'network = "wan"'), "unknown network 'wan'"),
    "outside-subnet": (
        NET + PC.replace("10.1.0.10", "10.9.0.10"),
        "10.9.0.10 is in none of the network's subnets",
    ),
    "v6-outside": (
        NET + PC.replace('address = "10.1.0.10"', 'address6 = "2001:db8:9::1"'),
        "2001:db8:9::1 is in none of the network's subnets",
    ),
    "duplicate-address": (
        NET + PC + PC.replace('"pc"', '"pc2"'),
        "address '10.1.0.10' is already used",
    ),
    "duplicate-host": (NET + PC + PC.replace("10.1.0.10", "10.1.0.11"), "name 'pc' is already used"),
    "reserved-host": (NET + PC.replace('"pc"', '"host"'), "'host' is a word nslab's steps and CLI reserve"),
    "reserved-internet": (NET + PC.replace('"pc"', '"internet"'), "'internet' is a word"),
    "route-via-nowhere": (
        NET + PC + 'routes = ["default via 10.5.0.1"]\n',
        "10.5.0.1 is on no network pc is connected to",
    ),
    "route-garbage": (NET + PC + 'routes = ["to the moon"]\n', "'to the moon' is not a route"),
    "route-mixed-family": (
        NET + PC + 'routes = ["2001:db8:5::/64 via 10.1.0.1"]\n',
        "2001:db8:5::/64 is IPv6 but 10.1.0.1 is IPv4",
    ),
    "missing-ruleset": (NET + PC + 'firewall = { nft = "nope.nft" }\n', "nope.nft does not exist"),
    "two-backends": (
        NET + PC + 'firewall = { nft = "ok.nft", iptables = "ok.rules" }\n',
        "rules in two backends in one namespace",
    ),
    "bad-backend": ('[firewall]\nbackend = "pf"\n' + NET + PC, "'pf' is not a firewall backend"),
    "upstream-via-unknown": (NET + PC + '[upstream]\nvia = "edge"\n', "upstream.via: unknown host 'edge'"),
    "upstream-real-address": (
        NET + PC + '[upstream]\nserver = "8.8.8.8"\n',
        "8.8.8.8 is not in a documentation range",
    ),
    "no-address": (NET + '[[host]]\nname = "pc"\ninterfaces = [{ network = "lan" }]\n', "no address"),
    "long-peer": (
        NET + '[[host]]\nname = "averylonghost"\ninterfaces = [{ network = "lan", address = "10.1.0.10" }]\n',
        "the default name 'v-averylonghost-0' is over 15 bytes",
    ),
    "lab-subnet-is-upstream": (
        # with an internet ([upstream]): a lab without one may use its ranges
        NET.replace("10.1.0.0/24", "198.51.100.0/24")
        + PC.replace("10.1.0.10", "198.51.100.10")
        + "[upstream]\n",
        "overlaps the simulated internet's 198.51.100.0/24",
    ),
    "unknown-key": (NET + PC + "colour = 3\n", "unknown key 'colour'"),
    "sysctl-interface": (
        NET + PC + 'sysctls = { "net.ipv4.conf.eth9.rp_filter" = 1 }\n',
        "interface 'eth9' is not one of this host's (eth0, all, default)",
    ),
}
# keys the file alone cannot judge: the kernel the lab runs on says (validate: this one's)
KERNEL = {
    "sysctl-typo": (
        NET + PC + 'sysctls = { "net.ipv4.conf.all.rp_filtr" = 1 }\n',
        "'net.ipv4.conf.all.rp_filtr': ipv4 conf has no setting 'rp_filtr'; did you mean rp_filter?",
    ),
    "sysctl-unknown": (
        NET + PC + 'sysctls = { "net.ipv4.ip_forwrd" = 1 }\n',
        "this kernel has no such sysctl; did you mean net.ipv4.ip_forward?",
    ),
    # the root namespace has it, a lab's namespaces do not: it could never be set there
    "sysctl-root-only": (
        NET + PC + 'sysctls = { "net.core.netdev_max_backlog" = 2000 }\n',
        "'net.core.netdev_max_backlog': a network namespace on this kernel has no such sysctl",
    ),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_routed_lab_files_are_one_line_each(tmp_path: Path, case: str) -> None:
    text, words = BAD[case]
    (tmp_path / "ok.nft").write_text("flush ruleset\n")
    (tmp_path / "ok.rules").write_text("*filter\nCOMMIT\n")
    bad = tmp_path / "bad.toml"
    bad.write_text(text)
    with pytest.raises(LabError) as caught:
        load_lab(bad)
    assert words in str(caught.value) and str(bad) in str(caught.value), str(caught.value)
    r = subprocess.run(
        [sys.executable, "-m", "nslab.cli", "validate", str(bad)], capture_output=True, text=True
    )
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1 and words in r.stderr, r.stderr


@pytest.mark.parametrize("case", sorted(KERNEL))
def test_sysctls_the_kernel_lacks_are_one_line_each(tmp_path: Path, case: str) -> None:
    """The lab file loads anywhere; the kernel it runs on refuses the key: validate (this
    machine's), a run (its target's, nslab.machine.sysctls), each in one line."""
    text, words = KERNEL[case]
    bad = tmp_path / "bad.toml"
    bad.write_text(text)
    lab = load_lab(bad)
    with pytest.raises(LabError) as caught:
        check_sysctls(lab, KernelSysctls.of(LocalTarget()), str(bad), "local")
    said = str(caught.value)
    assert words in said and str(bad) in said and "the local target's kernel" in said, said
    r = subprocess.run(
        [sys.executable, "-m", "nslab.cli", "validate", str(bad)], capture_output=True, text=True
    )
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1 and words in r.stderr, r.stderr


def test_sysctls_are_checked_on_the_targets_kernel_not_this_one(tmp_path: Path) -> None:
    """Reading a lab file never asks this machine's /proc/sys: a key this kernel lacks but
    the target's has loads (a run over ssh or in a VM checks it there), and one only this
    machine's root namespace has is refused where the lab will run."""
    lab_file = tmp_path / "lab.toml"
    lab_file.write_text(NET + PC + 'sysctls = { "net.ipv4.tcp_newer_kernel" = 1 }\n')
    lab = load_lab(lab_file)  # this kernel has no tcp_newer_kernel
    assert lab.hosts[0].sysctls == (("net.ipv4.tcp_newer_kernel", "1"),)
    newer = KernelSysctls(["net/ipv4/ip_forward", "net/ipv4/tcp_newer_kernel"])  # the target's
    check_sysctls(lab, newer, str(lab_file), "ssh")
    with pytest.raises(LabError, match=r"tcp_newer_kernel'.*the local target's kernel"):
        check_sysctls(lab, KernelSysctls.of(LocalTarget()), str(lab_file), "local")


@needs_netns
def test_a_session_checks_the_sysctls_on_its_target(tmp_path: Path) -> None:
    """LabSession.open checks the lab's sysctls on its target (before any world is built):
    a key a lab's namespaces lack there is refused, naming the target."""
    from nslab.config import Settings
    from nslab.scenario.session import LabSession

    lab_file = tmp_path / "lab.toml"
    lab_file.write_text(NET + PC + 'sysctls = { "net.core.netdev_max_backlog" = 2000 }\n')
    with pytest.raises(LabError, match=r"netdev_max_backlog'.*the local target's kernel"):
        LabSession.open(Settings(lab=str(lab_file)))


def test_the_shipped_and_the_users_labs_load() -> None:
    dmz = load_lab(ROOT / "labs" / "dmz.toml")
    assert dmz.upstream.via == "edge" and dmz.backend == "nftables"
    assert [h.name for h in dmz.hosts if h.router] == ["edge"]
    assert (
        str(dmz.resolve("web", v6=True)) == "2001:db8:2::10"
        and str(dmz.resolve("the internet")) == "203.0.113.10"
    )
    user = load_lab(HERE / "labs" / "three-nets.toml")
    assert (len(user.networks), sum(h.router for h in user.hosts)) == (3, 2)
    assert user.hosts[1].rulesets[0].path == HERE / "labs" / "r2.nft"


@needs_netns
@pytest.mark.parametrize(
    ("kind", "content", "words"),
    [
        (
            "nft",
            "table inet t {\n  chain c {\n    tcp dport 22 acept\n  }\n}\n",
            "bad.rules: line 3: syntax error",
        ),
        (
            "iptables",
            "*filter\n:FORWARD DROP [0:0]\n-A FORWARD -p tcp --dport 22 -j ACCCEPT\nCOMMIT\n",
            "bad.rules: line 3: unknown target or chain `ACCCEPT`",
        ),
        ("ip6tables", "*filter\n-A NOWHERE -j ACCEPT\nCOMMIT\n", "bad.rules: line "),
        ("script", "if then fi\n", "bad.rules: line 1"),
    ],
)
def test_a_ruleset_that_does_not_load_names_its_file_and_line(
    tmp_path: Path, kind: str, content: str, words: str
) -> None:
    (tmp_path / "bad.rules").write_text(content)
    lab = tmp_path / "lab.toml"
    lab.write_text(NET + PC + f'firewall = {{ {kind} = "bad.rules" }}\n')
    before = host_snapshot()
    r = run_behave(
        "features/01-base-lab.feature", "-D", f"lab={lab}", "-D", f"reports={tmp_path}", "--no-junit"
    )
    assert r.returncode != 0 and "Traceback" not in r.stderr
    line = next((x for x in r.stderr.splitlines() if x.startswith("nslab: ")), r.stderr)
    assert f"host pc's {kind} ruleset does not load" in line and words in line, r.stderr
    assert r.returncode == 2 and "ABORTED" not in r.stdout + r.stderr  # nobody aborted anything
    assert host_snapshot() == before


@needs_netns
def test_a_users_lab_through_validate_up_status_diagram_and_its_feature(tmp_path: Path) -> None:
    before = host_snapshot()
    lab = HERE / "labs" / "three-nets.toml"
    env = {**os.environ, "NSLAB_STATE": str(tmp_path / "lab.json")}

    def nslab(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "nslab.cli", *args],
            capture_output=True,
            text=True,
            env=env,
            cwd=ROOT,
            timeout=60,
        )

    r = nslab("validate", str(lab))
    assert r.returncode == 0 and "routers r1, r2" in r.stdout and "2001:db8:31:3::/64" in r.stdout, (
        r.stdout + r.stderr
    )
    r = nslab("up", "--lab", str(lab))
    try:
        assert r.returncode == 0, r.stderr
        r = nslab("exec", "h1", "--", "ping", "-c", "1", "-W", "1", "2001:db8:31:3::30")
        assert "1 received" in r.stdout, r.stdout + r.stderr
        r = nslab("status")
        assert r.returncode == 0 and "h3" in r.stdout and "10.31.3.30/24" in r.stdout
        out = tmp_path / "lab.mmd"
        r = nslab("diagram", "--detail", "--lab", str(lab), "-o", str(out))  # bridges: the plumbing
        assert r.returncode == 0, r.stderr
        text = out.read_text()
        for piece in ("br-a", "br-c", "r1", "r2", "2001:db8:31:3::30/64", "10.31.2.2/24"):
            assert piece in text, piece
        r = nslab("diagram", "--live", "-o", str(tmp_path / "live.mmd"))
        assert r.returncode == 0, r.stdout + r.stderr  # what is up matches the file
    finally:
        nslab("down")
    r = run_feature(HERE / "features" / "three-nets.feature", tmp_path)
    assert r.returncode == 0 and "2 scenarios passed, 0 failed" in r.stdout, r.stdout[-3000:]
    assert host_snapshot() == before


@needs_netns
def test_a_missing_tool_skips_the_scenarios_that_need_it(tmp_path: Path) -> None:
    """No nft on the machine: the dmz lab's scenarios skip saying why; the rest still run."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for folder in ("/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin"):
        for tool in Path(folder).iterdir() if Path(folder).is_dir() else ():
            link = bin_dir / tool.name
            if tool.name != "nft" and not link.exists():
                link.symlink_to(tool)
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{bin_dir}"}
    r = subprocess.run(
        [sys.executable, "-m", "behave", "features/dmz/01-routing.feature", "features/01-base-lab.feature",
         "-D", f"reports={tmp_path}", "-D", "html=", "--no-junit", "-f", "plain", "--show-skipped"],
        cwd=ROOT, capture_output=True, text=True, env=env, timeout=300,
    )  # fmt: skip
    assert r.returncode == 0, r.stdout[-3000:]
    assert "3 scenarios passed, 0 failed, 3 skipped" in r.stdout, r.stdout[-3000:]
    assert "lab 'dmz' needs nft, which local lacks (apt-get install nftables)" in r.stdout + r.stderr


@needs_netns
def test_seed_steps_on_a_routed_lab_are_one_line(tmp_path: Path) -> None:
    r = run_feature(HERE / "features" / "routed-seed-steps.feature", tmp_path)
    assert r.returncode == 1 and "Traceback" not in r.stdout
    assert "this step needs a network whose gateway is the lab's host; lab 'three-nets' has none" in r.stdout
    stages = "its stages are sysctl, networks, routes, rulesets"  # no [upstream]: no internet
    for stage in ("firewall", "forward"):
        assert f"lab 'three-nets' has no {stage} stage: it has no chain on the host" in r.stdout, r.stdout
    assert stages in r.stdout


MIXED = """\
# A user's firewall script that writes rules through both backends: iptables-legacy's
# rules and nf_tables' rules then sit side by side, each ignoring the other.
iptables-legacy -w -A FORWARD -j ACCEPT
nft add table inet mine
nft add chain inet mine filter_fwd '{ type filter hook forward priority 0; policy drop; }'
nft add rule inet mine filter_fwd counter drop
"""


@needs_netns
@pytest.mark.parametrize("mixed", [True, False], ids=["two-backends", "one-backend"])
def test_a_namespace_with_rules_in_two_backends_fails_in_one_line(tmp_path: Path, mixed: bool) -> None:
    """firewall = { script = ... } can reach any backend; after the rulesets stage a host with
    rules in iptables-legacy *and* nf_tables is refused, naming the host (cilium #28260)."""
    for tool in ("iptables-legacy", "iptables-legacy-save", "nft"):
        if subprocess.run(["sh", "-c", f"command -v {tool}"], capture_output=True).returncode:
            pytest.skip(f"{tool} is not installed")
    script = MIXED if mixed else MIXED.replace("iptables-legacy -w -A FORWARD -j ACCEPT\n", "")
    (tmp_path / "mine.sh").write_text(script)
    (tmp_path / "lab.toml").write_text(NET + PC + 'firewall = { script = "mine.sh" }\n')
    before = host_snapshot()
    from nslab.machine.provision import provision
    from nslab.machine.targets.local import LocalTarget
    from nslab.machine.world import World

    lab = load_lab(tmp_path / "lab.toml")
    with World.start(LocalTarget()) as world:
        if mixed:
            with pytest.raises(Exception) as err:
                provision(world, lab)
            assert "host pc has rules in two backends (iptables-legacy and nf_tables)" in str(err.value)
        else:
            provision(world, lab)
            assert "counter packets" in world.run(["nft", "list", "ruleset"], ns="pc", check=True).stdout
    assert host_snapshot() == before
