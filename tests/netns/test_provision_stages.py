"""Provision stages on real namespaces: each alone on top of the earlier ones, each
idempotent, and failures that say what is wrong."""

from __future__ import annotations

import pytest
from conftest import ROOT, needs_netns

from nslab.commands import CommandError
from nslab.errors import LabError
from nslab.lab import default_lab, load_lab
from nslab.machine.provision import lab_env, provision, select, stage_names
from nslab.machine.targets.local import LocalTarget
from nslab.machine.world import World
from nslab.probe import checks as probe

SNAPSHOT = (
    "iptables-save | grep -v '^#'; ip netns exec isp iptables-save 2>/dev/null | grep -v '^#';"
    " ip -o link | sed -E 's/<[^>]*>//; s/ state [A-Z]+//; s/link\\/ether [0-9a-f:]*//';"
    " ip -o addr | grep -v inet6; ip route;"
    " for n in $(ip netns list | cut -d' ' -f1); do echo \"== $n\"; ip -n $n -o addr | grep -v inet6;"
    " ip -n $n route; done; ls -R /etc/netns; ls /run/nslab;"
    " sysctl net.ipv4.ip_forward net.bridge.bridge-nf-call-iptables"
)

# What each stage builds, as the snapshot shows it: present once the stage ran (twice),
# absent before it.
BUILDS = {
    "sysctl": ["net.ipv4.ip_forward = 1", "net.bridge.bridge-nf-call-iptables = 1"],
    "networks": ["br0", "veth0-red", "veth1-blue", "10.16.0.2/24", "10.16.0.3/24", "== red", "== blue"],
    "firewall": [":FORWARD DROP", "-A FORWARD -j NAVY", "-A NAVY -s 10.16.0.0/24 -d 10.16.0.0/24 -j ACCEPT"],
    "gateway": ["10.16.0.1/24", "default via 10.16.0.1 dev veth1-red", "-A NAVY -o br0 -j ACCEPT"],
    "upstream": ["uplink0", "203.0.113.10/32", "203.0.113.10 via 198.51.100.2", "--name nslab-seen"],
    "forward": ["-A NAVY -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT", "! -o br0 -j ACCEPT"],
    "nat": ["-j MASQUERADE"],
    "dns": ["/etc/netns/red:", "/etc/netns/blue:", "dnsmasq-isp.pid"],
}


def snapshot(world: World) -> str:
    return world.run(["bash", "-c", SNAPSHOT], check=True).stdout


def test_stage_names_follow_the_story() -> None:
    seed = default_lab()
    assert stage_names(seed) == [
        "sysctl",
        "networks",
        "firewall",
        "gateway",
        "upstream",
        "forward",
        "nat",
        "dns",
    ]
    assert [s.name for s in select(seed, upto="gateway")] == ["sysctl", "networks", "firewall", "gateway"]
    # the seed story's old name for its networks stage still works
    assert [s.name for s in select(seed, upto="topology")] == ["sysctl", "networks"]
    assert [s.name for s in select(seed, only=["topology", "nat"])] == ["networks", "nat"]
    with pytest.raises(LabError, match=r"unknown provision stage 'bogus'.*sysctl, networks"):
        select(seed, upto="bogus")


def test_one_stage_set_each_lab_gets_the_stages_that_build_what_it_declares() -> None:
    dmz = load_lab(ROOT / "labs" / "dmz.toml")
    assert stage_names(dmz) == ["sysctl", "networks", "routes", "upstream", "rulesets", "dns"]
    # a stage of the seed story on a lab without its part: one line naming the part
    with pytest.raises(LabError) as err:
        select(dmz, only=["forward"])
    assert str(err.value).startswith("lab 'dmz' has no forward stage: it has no chain on the host")
    with pytest.raises(LabError, match=r"lab 'seed' has no routes stage: it has no routes"):
        select(default_lab(), upto="routes")


def test_lab_env_has_only_validated_values() -> None:
    env = lab_env(default_lab())
    assert env["NSLAB_NAMESPACES"].splitlines() == [
        "red veth1-red veth0-red 10.16.0.2/24",
        "blue veth1-blue veth0-blue 10.16.0.3/24",
    ]
    assert env["NSLAB_GATEWAY"] == "10.16.0.1/24" and env["NSLAB_CHAIN"] == "NAVY"


@needs_netns
@pytest.mark.parametrize("upto", stage_names(default_lab()))
def test_each_stage_is_idempotent_on_top_of_the_earlier_ones(upto: str) -> None:
    lab = default_lab()
    with World.start(LocalTarget()) as w:
        provision(w, lab, upto=upto)
        first = snapshot(w)
        provision(w, lab, upto=upto)
        second = snapshot(w)
    assert first == second
    names = stage_names(lab)
    done = names[: names.index(upto) + 1]
    for stage in names:
        for piece in BUILDS[stage]:
            if stage in done:
                assert piece in second, f"{stage} did not build {piece!r} (up to {upto}):\n{second}"
            elif stage != "sysctl":  # a new namespace may start with bridge netfilter on
                assert piece not in second, f"{piece!r} was there before the {stage} stage:\n{second}"


@needs_netns
def test_full_seed_lab_works_end_to_end() -> None:
    lab = default_lab()
    with World.start(LocalTarget()) as w:
        provision(w, lab)
        assert probe.ping(w, "red", "10.16.0.3").result.received == 3
        out = probe.ping(w, "red", lab.upstream.server)
        assert out.result.received == 3, out.raw.output
        assert probe.seen_sources(w, "isp") == [str(lab.upstream.host_address.ip)]
        look = probe.lookup(w, "blue", "www.example.test")
        assert look.addresses == ("203.0.113.10",)
        policy = probe.ruleset(w).chain("FORWARD")
        assert policy is not None and policy.policy == "DROP"


@needs_netns
def test_three_namespace_lab_provisions() -> None:
    lab = load_lab(ROOT / "labs" / "three-ns.toml")
    with World.start(LocalTarget()) as w:
        provision(w, lab)
        assert probe.ping(w, "green", "10.20.0.4").result.received == 3
        assert probe.ping(w, "red", lab.upstream.server).result.received == 3
        assert "TEAL" in probe.ruleset(w).chain_names()


@needs_netns
def test_rules_run_sh_loads_for_the_stages_equal_each_stage_run_alone() -> None:
    """run.sh queues the stages' rules and loads them per namespace in the background as
    the next stage runs; each stage run alone by bash loads its own at once. Same lab."""
    lab = default_lab()
    env = lab_env(lab)
    with World.start(LocalTarget()) as w:
        provision(w, lab)
        queued = snapshot(w)
    with World.start(LocalTarget()) as w:
        for stage in select(lab):
            w.run(["bash", f"{w.provision_dir}/{stage.file}"], env=env, check=True)
        alone = snapshot(w)
    assert "-A NAVY -o br0 -j ACCEPT" in queued and "--name nslab-seen" in queued
    assert queued == alone


LONG_CHAIN = "N" * 29  # one over iptables' limit; the lab model refuses it, run.sh's caller need not


@needs_netns
@pytest.mark.parametrize(
    ("override", "built", "run", "failing", "why", "kept", "not_loaded"),
    [
        # the forward stage's rule fails to load: the gateway's, queued before it, is
        # loaded; nat's, queued after it, is not
        (
            {"NSLAB_SUBNET": "10.16.0.0/33"},
            ["networks", "firewall"],
            ["40-gateway.sh", "60-forward.sh", "70-nat.sh"],
            "60-forward.sh",
            "invalid mask",
            ["-A NAVY -o br0 -j ACCEPT"],
            ["--ctstate", "MASQUERADE"],
        ),
        # the firewall stage's first load fails: the rest needs its chain and is not loaded
        (
            {"NSLAB_CHAIN": LONG_CHAIN},
            ["networks"],
            ["30-firewall.sh", "40-gateway.sh", "70-nat.sh"],
            "30-firewall.sh",
            "too long",
            [],
            [LONG_CHAIN, "MASQUERADE"],
        ),
    ],
)
def test_rules_that_do_not_load_name_their_stage_and_leave_no_files(
    override: dict[str, str],
    built: list[str],
    run: list[str],
    failing: str,
    why: str,
    kept: list[str],
    not_loaded: list[str],
) -> None:
    """A bad value past the lab model (run.sh called directly): the error names the stage
    whose rule failed and the rule; what loaded before it stays; no queue files remain."""
    lab = default_lab()
    with World.start(LocalTarget()) as w:
        provision(w, lab, only=built)
        result = w.run(["bash", f"{w.provision_dir}/run.sh", *run], env={**lab_env(lab), **override})
        rules = w.run(["iptables-save"], check=True).stdout
        left = w.run(["bash", "-c", "ls /run/nslab"], check=True).stdout.split()
    assert result.rc == 1
    lines = result.stderr.splitlines()
    assert lines[0].startswith(f"nslab: {failing}: its rules did not load: iptables-restore"), lines
    assert why in lines[0] and "(rule: " in lines[0], lines
    assert lines[-1] == f"nslab: provision stage {failing} failed", lines
    assert all(rule in rules for rule in kept), rules
    assert not any(rule in rules for rule in not_loaded), rules
    assert [name for name in left if name.startswith("rules.")] == []


@needs_netns
def test_a_stage_out_of_order_names_what_is_missing() -> None:
    with World.start(LocalTarget()) as w:
        provision(w, default_lab(), only=["topology"])  # the networks stage, by its old name
        with pytest.raises(CommandError) as err:
            provision(w, default_lab(), only=["gateway"])
    assert "chain NAVY does not exist; run the firewall stage first" in str(err.value)
    assert "provision stage 40-gateway.sh failed" in str(err.value)


@needs_netns
def test_teardown_removes_a_lab_built_in_a_root_namespace() -> None:
    """teardown.sh (for @host and Vagrant) run where the lab was built: a world stands in."""
    from nslab.machine.provision import teardown

    lab = default_lab()
    with World.start(LocalTarget()) as w:
        empty = snapshot(w)
        provision(w, lab)
        teardown(w, lab)
        teardown(w, lab)  # idempotent
        after = snapshot(w)
    # rules, links, namespaces, routes and resolv.conf files all gone; what stays is the
    # empty table skeleton iptables-save shows once a table was used, and the sysctls
    assert ":FORWARD ACCEPT" in after
    assert lasting(after) == lasting(empty)


@needs_netns
@pytest.mark.parametrize("lab_file", ["labs/dmz.toml", "tests/labs/three-nets.toml"])
def test_teardown_removes_a_routed_lab_too(lab_file: str) -> None:
    """teardown.sh for every lab (it needed the seed's NSLAB_BRIDGE): hosts, bridges, the
    upstream and the neighbour-discovery rules gone, in a world standing in for the host."""
    from nslab.machine.provision import teardown

    lab = load_lab(ROOT / lab_file)
    with World.start(LocalTarget()) as w:
        empty = snapshot(w)
        provision(w, lab)
        assert lasting(snapshot(w)) != lasting(empty)
        teardown(w, lab)
        teardown(w, lab)  # idempotent
        after = snapshot(w)
        nd = w.run(["ip6tables-save"], check=True).stdout
    assert lasting(after) == lasting(empty)
    assert "icmpv6-type" not in nd


def lasting(snapshot_text: str) -> list[str]:
    """A snapshot without what teardown leaves on purpose: the table skeleton iptables-save
    shows once a table was used, and the sysctls."""
    return [line for line in snapshot_text.splitlines() if not line.startswith(("*", ":", "COMMIT", "net."))]


def test_env_exports_round_trip_through_bash(capsys: pytest.CaptureFixture[str]) -> None:
    """`python3 -m nslab.machine.provision env LAB` is how a VM gets the lab file's values."""
    import subprocess

    from nslab.machine.provision import main

    assert main(["env", str(ROOT / "labs" / "seed.toml")]) == 0
    exports = capsys.readouterr().out
    env = lab_env(default_lab())
    script = exports + 'for k in "$@"; do printf "%s=%s\\0" "$k" "${!k}"; done'
    out = subprocess.run(
        ["bash", "-c", script, "env", *env], capture_output=True, text=True, check=True
    ).stdout
    got = dict(item.split("=", 1) for item in out.split("\0") if item)
    assert got == env
    assert main(["env", "/nonexistent.toml"]) == 2
    assert "no such lab file" in capsys.readouterr().err


@needs_netns  # it builds a world (it was unmarked: `pytest -m unit` as a plain user failed it)
def test_host_world_uses_its_targets_root_namespace_and_tears_the_lab_down() -> None:
    """A @host scenario's world: commands run on the target as they are, a leftover lab is
    removed first, and closing tears down what the scenario built. A world stands in for
    the VM whose root namespace this is on the vagrant target."""
    from nslab.machine.host_world import HostWorld

    lab = default_lab()
    with World.start(LocalTarget()) as vm:
        empty = snapshot(vm)
        provision(vm, lab, upto="gateway")  # a leftover, as `vagrant up`'s manual lab is
        host = HostWorld.open(vm, lab)
        assert "br0" not in vm.run(["ip", "-o", "link"]).stdout, "the leftover lab was not removed"
        provision(host, lab, upto="topology")
        assert "br0" in vm.run(["ip", "-o", "link"]).stdout  # built right there, not in a world of its own
        assert host.run(["ping", "-c", "1", "-W", "2", "10.16.0.3"], ns="red").ok
        host.close()
        host.close()  # once is enough
        after = snapshot(vm)
    assert lasting(after) == lasting(empty)  # links, namespaces, rules, routes: all gone


def test_a_host_world_is_refused_off_the_vagrant_target() -> None:
    from nslab.config import Settings
    from nslab.errors import TargetError
    from nslab.scenario.session import LabSession

    session = LabSession.open(Settings())
    try:
        with pytest.raises(TargetError, match="change the real root namespace of the local target"):
            session.host_world()
    finally:
        session.close()
