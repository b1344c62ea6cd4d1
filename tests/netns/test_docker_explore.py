"""Explore and diff on labs with Docker: the published ports are probed, the containers
are places, and a change of `publish` is a change diff reports, decided by Docker's rules."""

from __future__ import annotations

import json
from pathlib import Path

from conftest import host_snapshot, needs_netns
from support.corpus import PATIENT, built, explore, nslab
from support.labs import host, lan_lab
from test_docker_daemon import LABS, needs_docker

WEB, LOCAL = LABS / "docker-web.toml", LABS / "docker-local.toml"
DNAT = (
    "web: translated by DOCKER rule 2 (! -i docker0 -p tcp -m tcp --dport 8080 -j DNAT "
    "--to-destination 172.17.0.2:80) in table nat (made by Docker)"
)
ACCEPT = (
    "web: accepted by DOCKER rule 1 (-d 172.17.0.2/32 ! -i docker0 -o docker0 -p tcp -m tcp --dport 80 "
    "-j ACCEPT) (made by Docker)"
)


@needs_netns
@needs_docker
def test_explore_probes_the_published_port_and_the_container_as_a_place() -> None:
    rows = explore(WEB)
    way_in = rows[("the internet", "web@198.51.100.1", "tcp/8080", "v4")]
    assert (way_in["outcome"], way_in["landed_at"]) == ("accepted", "172.17.0.2:80")
    assert way_in["decided_by"] == f"{DNAT}; {ACCEPT}"
    # the container's own port, from its host; from office, which has no route to docker0
    assert rows[("web", "app", "tcp/80", "v4")]["outcome"] == "accepted"
    assert rows[("office", "app", "tcp/80", "v4")]["outcome"] == "unreachable"


@needs_netns
@needs_docker
def test_diff_of_publishing_on_127_0_0_1_only_names_the_two_ways_in_it_closes() -> None:
    before = host_snapshot()
    r = nslab("diff", "--against", str(WEB), "--lab", str(LOCAL), "--format", "json", *PATIENT)
    assert r.returncode == 1, r.stderr  # 1: something changed
    changed = {
        (row["from"], row["to"], row["to_address"], row["service"]): row for row in json.loads(r.stdout)
    }
    assert set(changed) == {
        ("office", "web", "10.30.0.10", "tcp/8080"),
        ("the internet", "web", "198.51.100.1", "tcp/8080"),
    }
    for row in changed.values():
        assert (row["before"]["outcome"], row["before"]["decided_by"]) == ("accepted", f"{DNAT}; {ACCEPT}")
        assert (row["after"]["outcome"], row["after"]["decided_by"]) == (
            "dropped",
            "web: dropped by INPUT policy DROP",
        )
    assert host_snapshot() == before


DOCK = lan_lab(
    "dock",
    "10.31.0.0/24",
    host("guest", "10.31.0.20"),
    host("dock", "10.31.0.10", docker='{ containers = [{ name = "app", publish = PUBLISH }] }'),
)


@needs_netns
@needs_docker
def test_diff_names_a_flow_that_now_lands_at_the_container_though_accepted_both_sides(tmp_path: Path) -> None:
    # a new user's trial: publish "9000:80" -> ["127.0.0.1:9000:80", "9443:80"]. Before,
    # dock's own listener (nslab's) accepted guest's tcp/9443; after, Docker's DNAT sends
    # it to the container. Accepted on both sides, and the diff printed no line for it.
    (tmp_path / "before.toml").write_text(DOCK.replace("PUBLISH", '["9000:80"]'))
    (tmp_path / "after.toml").write_text(DOCK.replace("PUBLISH", '["127.0.0.1:9000:80", "9443:80"]'))
    before = host_snapshot()
    r = nslab(
        "diff", "--against", str(tmp_path / "before.toml"), "--lab", str(tmp_path / "after.toml"),
        "--format", "json", *PATIENT,
    )  # fmt: skip
    assert r.returncode == 1, r.stderr  # 1: something changed
    changed = {(row["from"], row["to"], row["service"], row["family"]): row for row in json.loads(r.stdout)}
    moved = changed[("guest", "dock", "tcp/9443", "v4")]
    assert (moved["before"]["outcome"], moved["before"]["landed_at"]) == ("accepted", None)
    assert (moved["after"]["outcome"], moved["after"]["landed_at"]) == ("accepted", "172.17.0.2:80")
    assert host_snapshot() == before


# guest and dock on one LAN; the internet hangs off the lab's host, so dock (and its
# container api) has no route out: dock answers "network unreachable", rate limited
NO_WAY_OUT = lan_lab(
    "dock-no-route",
    "10.30.0.0/24",
    host("guest", "10.30.0.20"),
    host("dock", "10.30.0.10", docker='{ containers = [{ name = "api", publish = ["9000:80"] }] }'),
    tail="[upstream]\n",
)


@needs_netns
@needs_docker
def test_a_router_with_no_route_gives_every_port_of_a_flow_the_same_verdict(tmp_path: Path) -> None:
    # the kernel's ICMP answers for "no route" are rate limited machine-wide (5 at once,
    # then one a second): before, ports 22-25 read "rejected", the rest "dropped"/"no answer"
    lab = tmp_path / "lab.toml"
    lab.write_text(NO_WAY_OUT)
    before = host_snapshot()
    ports = ",".join([*(f"tcp/{p}" for p in range(22, 31)), "udp/53"])
    r = nslab("explore", "--lab", str(lab), "--ports", ports, "--format", "json", *PATIENT)
    assert r.returncode == 0, r.stderr
    assert host_snapshot() == before
    out = [row for row in json.loads(r.stdout) if (row["from"], row["to"]) == ("api", "the internet")]
    assert len(out) >= 11, out  # the ping, tcp/22-30, tcp/80, tcp/9000, udp/53
    assert {(row["outcome"], row["decided_by"]) for row in out} == {
        ("rejected", "dock has no route to 203.0.113.10 (ip route get: Network is unreachable)")
    }


@needs_netns
@needs_docker
def test_a_containers_namespace_sends_icmp_errors_unthrottled_as_every_lab_namespace() -> None:
    # dockerd makes it with the kernel's defaults: 1000, 1000, 50 before
    keys = ("net.ipv4.icmp_ratelimit", "net.ipv4.icmp_msgs_per_sec", "net.ipv4.icmp_msgs_burst")
    with built(WEB, ()) as session:
        got = [session.w.run(["sysctl", "-n", key], ns="app", check=True).stdout.strip() for key in keys]
    assert got == ["0", "1000000", "1000000"]
