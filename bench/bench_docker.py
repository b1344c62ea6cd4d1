"""Docker on a lab host: the time to a ready Docker host with one container, against the
plain lab (the same lab without Docker) in the same run.

    .venv/bin/python bench/bench_docker.py           # 10 of each
    .venv/bin/python bench/bench_docker.py --quick   # 3 of each

Prints: the plain lab provisioned in a fresh world; the Docker lab (dockerd ready, the
offline image imported, the container running and attached as a place); its parts
(dockerd to ready, image, container); the first connection to the published port; the
end of the world with its Docker cgroups removed. Aim (issue 29): a Docker host with one
container ready <= 3.5 s.
"""

from __future__ import annotations

import argparse
import dataclasses
import time
from pathlib import Path

from figures import show  # bench/figures.py: python puts the script's folder on the path

from nslab.config import Settings
from nslab.lab import load_lab
from nslab.lab.docker import DockerSpec
from nslab.managers import docker
from nslab.managers.docker_image import import_image
from nslab.scenario.session import LabSession

ROOT = Path(__file__).resolve().parents[1]
LAB = ROOT / "features" / "docker" / "labs" / "docker-web.toml"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="3 of each, not 10")
    n = 3 if ap.parse_args().quick else 10
    lab = load_lab(LAB)
    plain = dataclasses.replace(lab, hosts=tuple(dataclasses.replace(h, docker=None) for h in lab.hosts))
    session = LabSession.open(Settings(lab=str(LAB), ping_wait=1, probe_wait=1))
    why = session.docker.missing(session.target)
    if why:
        raise SystemExit(f"bench_docker: Docker cannot run here: {why}")
    figures: dict[str, list[float]] = {}

    def timing(name: str, start: float) -> float:
        now = time.perf_counter()
        figures.setdefault(name, []).append(now - start)
        return now

    try:
        for _ in range(n):
            session.lab = plain
            session.new_world()
            start = time.perf_counter()
            session.provision()
            timing("plain lab (no Docker) provisioned", start)

            session.lab = lab
            world = session.new_world()
            start = time.perf_counter()
            session.provision()
            timing("Docker lab: host + 1 container ready", start)
            start = time.perf_counter()
            conn = session.connect("the internet", "the uplink", "tcp", 8080)
            assert conn.outcome.outcome == "accepted", conn.describe()
            timing("  first connection to the published port", start)
            start = time.perf_counter()
            session.end_world()
            timing("  world ended, Docker's cgroups removed", start)

            # the parts, on their own in a fresh world: dockerd, the image, the container
            session.lab = plain
            world = session.new_world()
            session.provision()
            start = time.perf_counter()
            daemon = docker.start(world, "web", "web", DockerSpec())
            start = timing("  part: dockerd ready", start)
            import_image(world, daemon.dir, daemon.env)
            start = timing("  part: offline image imported", start)
            spec = lab.namespace("web").docker
            assert spec is not None
            daemon.run_container(spec.containers[0])
            timing("  part: container running, attached", start)
            session.end_world()
            docker.finish({"web": daemon})
    finally:
        session.close()
    for name, seconds in figures.items():
        note = "(aim <= 3.5 s)" if name.startswith("Docker lab") else ""
        show(name, seconds, note)
    ratio = min(figures["Docker lab: host + 1 container ready"]) / min(
        figures["plain lab (no Docker) provisioned"]
    )
    print(f"Docker lab / plain lab, best of {n}: {ratio:.1f}x")


if __name__ == "__main__":
    main()
