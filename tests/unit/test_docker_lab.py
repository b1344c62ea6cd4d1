"""A lab host's `docker = {...}` key: parsed, checked and turned into places and ports
before anything runs (pure logic: no process, no namespace)."""

from __future__ import annotations

import ipaddress
import json
from pathlib import Path

import pytest
import tomllib
from support.labs import host, lan_lab

from nslab.errors import LabError
from nslab.lab import Lab
from nslab.lab.docker import Publish
from nslab.lab.tables import read_lab
from nslab.reach import flows

LAB = lan_lab(None, "10.30.0.0/24", host("web", "10.30.0.10", docker="DOCKER"))


def lab_with(docker: str, base: Path = Path(".")) -> Lab:
    return read_lab(tomllib.loads(LAB.replace("DOCKER", docker)), base)


def error_of(docker: str, base: Path = Path(".")) -> str:
    with pytest.raises(LabError) as exc:
        lab_with(docker, base)
    return str(exc.value)


@pytest.mark.parametrize(
    ("text", "want"),
    [
        ("8080:80", Publish(8080, 80)),
        ("127.0.0.1:8080:80", Publish(8080, 80, "tcp", "127.0.0.1")),
        ("8080:80/udp", Publish(8080, 80, "udp")),
        ("[::1]:8080:80/tcp", Publish(8080, 80, "tcp", "::1")),
    ],
)
def test_publish_takes_dockers_forms(text: str, want: Publish) -> None:
    assert Publish.parse("p", text) == want
    assert Publish.parse("p", want.words()) == want  # and writes them back as Docker reads them


def test_containers_are_read_in_order_with_their_addresses_on_docker0() -> None:
    lab = lab_with('{ containers = [{ name = "app", publish = ["8080:80", "53:53/udp"] }, { name = "db" }] }')
    spec = lab.namespace("web").docker
    assert spec is not None
    assert [(c.name, str(c.address)) for c in spec.containers] == [
        ("app", "172.17.0.2"),
        ("db", "172.17.0.3"),
    ]
    assert spec.containers[0].ports("udp") == [53]


def test_a_daemon_json_bip_moves_the_containers(tmp_path: Path) -> None:
    (tmp_path / "daemon.json").write_text(json.dumps({"bip": "172.26.0.1/24", "iptables": True}))
    lab = lab_with('{ containers = [{ name = "app" }], daemon = "daemon.json" }', tmp_path)
    spec = lab.namespace("web").docker
    assert spec is not None and spec.daemon == (tmp_path / "daemon.json").resolve()
    assert spec.containers[0].address == ipaddress.ip_address("172.26.0.2")


def test_a_container_is_a_place_with_its_ports_for_explore() -> None:
    lab = lab_with('{ containers = [{ name = "app", publish = ["8080:80", "127.0.0.1:5353:53/udp"] }] }')
    assert lab.resolve("app") == ipaddress.ip_address("172.17.0.2")
    place = next(p for p in flows.places(lab) if p.name == "app")
    assert (place.ns, place.v4) == ("app", "172.17.0.2")
    assert {("tcp", 8080), ("tcp", 80), ("udp", 5353), ("udp", 53)} <= set(flows.lab_ports(lab))


@pytest.mark.parametrize(
    ("docker", "says"),
    [
        (
            '{ containers = [{ name = "app", publish = ["80"] }] }',
            "host web.docker.containers app.publish #1: '80' is not a published port",
        ),
        (
            '{ containers = [{ name = "app", publish = ["70000:80"] }] }',
            "port 70000 in '70000:80' is out of range",
        ),
        (
            '{ containers = [{ name = "app", publish = ["300.1.1.1:80:80"] }] }',
            "'300.1.1.1' in '300.1.1.1:80:80' is not an address",
        ),
        ('{ containers = [{ name = "app", image = "nginx" }] }', "unknown key 'image'"),
        ('{ containers = [{ publish = ["80:80"] }] }', "host web.docker.containers #1.name: missing"),
        ('{ containers = [{ name = "web" }] }', "'web' is already the name of host web"),
        (
            '{ containers = [{ name = "app" }, { name = "app" }] }',
            "'app' is already the name of a container on host web",
        ),
        ('{ containers = [{ name = "isp" }] }', "'isp' is a word nslab's steps and CLI reserve"),
        ('{ daemon = "nowhere.json" }', "nowhere.json does not exist"),
    ],
)
def test_bad_docker_keys_are_one_line_naming_the_field(docker: str, says: str) -> None:
    assert says in error_of(docker)


def test_a_daemon_json_may_not_move_docker_out_of_the_lab(tmp_path: Path) -> None:
    (tmp_path / "daemon.json").write_text(json.dumps({"data-root": "/var/lib/docker"}))
    message = error_of('{ daemon = "daemon.json" }', tmp_path)
    assert "daemon.json sets 'data-root', which nslab sets to keep dockerd inside the lab" in message


def test_the_labs_summary_names_its_docker_hosts_and_containers() -> None:
    lab = lab_with('{ containers = [{ name = "app" }, { name = "db" }] }')
    assert lab.summary().endswith("; Docker on web (app, db)")


def test_the_diagram_draws_each_container_on_its_host_with_what_it_publishes() -> None:
    from nslab.report.logical import elements

    nodes, edges = elements(
        lab_with('{ containers = [{ name = "app", publish = ["8080:80", "5353:53/udp"] }] }')
    )
    assert nodes["host_app"] == ("host", "app\ncontainer on web")
    assert ("host_web", "host_app", "172.17.0.2\npublish 8080:80\npublish 5353:53/udp") in edges
