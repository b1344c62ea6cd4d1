"""The rules Docker itself wrote for one container publishing two ports (tests/data/corpus/
docker/: make.sh ran dockerd 20.10 in a fresh namespace, `docker run -p 8080:80 -p
2222:22`, and kept iptables-save), loaded as a lab Docker host's iptables file
(docker.toml: docker0 the host's leg in the containers' bridge, web the container at
172.17.0.2, as Docker gave it).

docker.iptables-save, read by hand. filter FORWARD (policy DROP): 1 DOCKER-USER (returns),
2 DOCKER-ISOLATION-STAGE-1 (returns unless docker0 to docker0's own), 3 -o docker0
established, 4 -o docker0 to DOCKER, 5 -i docker0 ! -o docker0 ACCEPT, 6 docker0 to
docker0 ACCEPT; DOCKER: 1 -d 172.17.0.2 ! -i docker0 -o docker0 tcp 80 ACCEPT, 2 the same
for 22. nat PREROUTING: to a local address, DOCKER: 1 -i docker0 RETURN, 2 ! -i docker0
tcp 8080 DNAT 172.17.0.2:80, 3 2222 DNAT 172.17.0.2:22; POSTROUTING 1 -s 172.17.0.0/16 !
-o docker0 MASQUERADE. INPUT and OUTPUT: empty, policy ACCEPT.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from conftest import DATA, needs_netns
from support.corpus import Key, built, explore, nslab, row_is, shellcheck_clean

from nslab.probe import ports
from nslab.scenario.session import LabSession

pytestmark = [needs_netns, pytest.mark.netns]

HERE = DATA / "corpus" / "docker"
LAB = HERE / "docker.toml"
RULES = HERE / "docker.iptables-save"


def test_the_rules_are_dockers_own_and_the_script_that_made_them_is_kept() -> None:
    assert "Package: docker.io\nVersion: 20.10.24+dfsg1-1+deb12u1+b6\n" in (HERE / "VERSION").read_text()
    address, ports = (HERE / "docker-ports.txt").read_text().split(" ", 1)
    assert address == "172.17.0.2"  # the container's address: the lab's web has it too
    assert {k: [p["HostPort"] for p in v] for k, v in json.loads(ports).items()} == {
        "22/tcp": ["2222", "2222"],
        "80/tcp": ["8080", "8080"],
    }
    assert "-A DOCKER ! -i docker0 -p tcp -m tcp --dport 8080 -j DNAT --to-destination 172.17.0.2:80" in (
        RULES.read_text().splitlines()
    )
    shellcheck_clean(HERE / "make.sh")


def test_the_saved_rules_load_as_the_docker_hosts_iptables_file() -> None:
    r = nslab("validate", str(LAB))
    assert r.returncode == 0 and "1 ruleset file(s) loaded in a throwaway world" in r.stdout, r.stderr


@pytest.fixture(scope="module")
def explored() -> dict[Key, dict[str, str]]:
    return explore(LAB)


def test_explore_dockers_published_ports_as_read_by_hand(explored: dict[Key, dict[str, str]]) -> None:
    f = explored
    docker_80 = "dockerhost: accepted by DOCKER rule 1 ("
    # the published port: 8080 at the host is DNAT'd to web:80 (nat DOCKER rule 2, in by
    # eth0: not docker0), then forwarded out of docker0: filter FORWARD rule 4 -> DOCKER rule 1
    row_is(f[("laptop", "dockerhost", "tcp/8080", "v4")], "accepted", docker_80)
    # the container's own port, straight to its address (the laptop routes by the host):
    # DOCKER rule 1 wants only "not in by docker0, out by docker0, to 172.17.0.2:80", so it
    # is open to anyone who can route to the bridge, published or not by address
    row_is(f[("laptop", "web", "tcp/80", "v4")], "accepted", docker_80, "10.7.0.20")
    row_is(
        f[("laptop", "web", "tcp/22", "v4")],
        "accepted",
        "dockerhost: accepted by DOCKER rule 2 (",
        "10.7.0.20",
    )
    # a port it does not publish: DOCKER has nothing, FORWARD 5 and 6 are from docker0: policy
    row_is(f[("laptop", "web", "tcp/8080", "v4")], "dropped", "dockerhost: dropped by FORWARD policy DROP")
    assert f[("laptop", "web", "icmp", "v4")]["outcome"] == "lost"
    # Docker's FORWARD rules are all about docker0: the LAN does not get out by the uplink
    row_is(
        f[("laptop", "the internet", "tcp/80", "v4")], "dropped", "dockerhost: dropped by FORWARD policy DROP"
    )
    # the container goes out (FORWARD rule 5), masqueraded (POSTROUTING rule 1): the
    # internet and the LAN see the host's address on their side
    rule_5 = "dockerhost: accepted by FORWARD rule 5 ("
    row_is(f[("web", "the internet", "tcp/80", "v4")], "accepted", rule_5, "198.51.100.1")
    row_is(f[("web", "laptop", "tcp/22", "v4")], "accepted", rule_5, "10.7.0.1")


def test_explore_names_dockers_nat_rules(explored: dict[Key, dict[str, str]]) -> None:
    published = explored[("laptop", "dockerhost", "tcp/8080", "v4")]["decided_by"]
    assert "translated by DOCKER rule 2 (" in published and "DNAT" in published.upper(), published
    out = explored[("web", "the internet", "tcp/80", "v4")]["decided_by"]
    assert "translated by POSTROUTING rule 1 (" in out and "MASQUERADE" in out.upper(), out


def test_explore_the_internet_at_the_published_ports(explored: dict[Key, dict[str, str]]) -> None:
    # in by uplink0 (not docker0): nat DOCKER rule 3 DNATs 2222 to web:22; DOCKER rule 2
    row_is(
        explored[("the internet", "dockerhost@198.51.100.1", "tcp/2222", "v4")],
        "accepted",
        "dockerhost: accepted by DOCKER rule 2 (",
    )


@pytest.fixture(scope="module")
def session() -> Iterator[LabSession]:
    with built(LAB, [("web", 80)]) as session:
        PUBLISHED.clear()
        yield session


# the internet's connections to the published 8080 in this process's lab: the tests of a
# module may be shared out between pytest-xdist's workers, each with a lab of its own
PUBLISHED: list[str] = []


def _to_the_published_port(session: LabSession) -> ports.Connection:
    PUBLISHED.append("8080")
    return session.connect("the internet", "the uplink", "tcp", 8080)


def test_the_internet_reaches_the_container_by_the_published_port(session: LabSession) -> None:
    c = _to_the_published_port(session)
    assert c.outcome.words() == "accepted", c.evidence.summary(lost=c.lost)
    assert "DOCKER rule 1 (" in c.evidence.summary(lost=False)
    assert session.seen_by("web", "tcp", 80) == ["198.51.100.2"]  # no SNAT on the way in


def test_rule_coverage_maps_and_counts_dockers_rules(session: LabSession) -> None:
    _to_the_published_port(session)
    session.coverage.end(session.w, "docker")
    (found,) = session.coverage.as_json()
    lines = RULES.read_text().splitlines()
    hits = {r["line"]: r["hits"] for r in found["rules"]}
    assert sorted(hits) == [n for n, line in enumerate(lines, 1) if line.startswith("-A ")]
    # each connection in by the published port (this test's, and the one before's where it
    # ran in this lab): its SYN DNAT'd by nat DOCKER's 8080 rule, accepted by filter DOCKER rule 1
    dnat = (
        lines.index(
            "-A DOCKER ! -i docker0 -p tcp -m tcp --dport 8080 -j DNAT --to-destination 172.17.0.2:80"
        )
        + 1
    )
    accept = next(
        n for n, x in enumerate(lines, 1) if x.startswith("-A DOCKER -d 172.17.0.2/32") and "80 -j" in x
    )
    assert (hits[dnat], hits[accept]) == (len(PUBLISHED), len(PUBLISHED)), hits
