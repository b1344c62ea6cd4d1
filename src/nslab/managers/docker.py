"""Docker on a lab host, for real: dockerd (and the containerd it starts) inside that
host's network namespace in the scenario's world, with its own data root, exec root,
sockets, /etc/docker and cgroups; its containers made from an image nslab builds offline
(nslab.managers.docker_image), each a place of its own.

Nothing of the machine changes: the world's holder owns the daemon's PID namespace, so
ending the world (or a kill -9 of the run: the kernel ends the world) ends dockerd,
containerd and every container. The one thing the kernel does not remove is the cgroup
directories runc made for the containers: they are all under one parent nslab names per
daemon (`nslab-docker-WORLDPID-HOST`), and a small reaper started outside the world, on
the target, removes that parent once the world's holder is gone, whichever way it ended.

>>> cgroup_parent(4242, "web")
'nslab-docker-4242-web'
"""

from __future__ import annotations

import ipaddress
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from nslab.commands import Result
from nslab.errors import LabError, TargetError
from nslab.lab.docker import DEFAULT_BIP, Container, DockerSpec
from nslab.machine.targets.base import Spawned, Target
from nslab.machine.world import World
from nslab.managers.docker_image import IMAGE, import_image

ROOT = "/run/nslab/docker"  # in the world's own /run: per Docker host, ROOT/HOST
READY_WAIT = 30.0  # dockerd answers in ~0.5 s here; a loaded machine may take seconds
# Run inside the world, in a mount namespace of the daemon's own (unshare --mount): there
# /etc/docker is a tmpfs (dockerd 20.10 writes its key.json there, whatever its config
# file says: measured, "Error saving key file: open /etc/docker/.tmp-key.json...: read-only
# file system") and /sys/fs/cgroup holds the machine's cgroup hierarchies, which the
# world's own /sys lacks and runc needs. The containers' cgroups go under the parent
# given, at the top of each hierarchy (`/NAME`: one place for the reaper to remove).
LAUNCHER = r"""
set -euo pipefail
dir=$1 parent=$2
if [ -d /etc/docker ]; then
  mount -t tmpfs -o mode=0755,size=1m nslab-docker-etc /etc/docker
else # no /etc/docker to cover on this machine: its /etc, with writes landing in $dir
  mkdir -p "$dir/etc/up" "$dir/etc/work"
  mount -t overlay -o "lowerdir=/etc,upperdir=$dir/etc/up,workdir=$dir/etc/work" nslab-docker-etc /etc
fi
mount -t tmpfs -o mode=0755 nslab-cgroup /sys/fs/cgroup
v1=no
while IFS=: read -r n controllers _; do
  if [ "$n" = 0 ]; then continue; fi
  v1=yes
  name=${controllers#name=}
  mkdir -p "/sys/fs/cgroup/$name"
  mount -t cgroup -o "$controllers" cgroup "/sys/fs/cgroup/$name"
done </proc/self/cgroup
if [ "$v1" = no ]; then mount -t cgroup2 cgroup2 /sys/fs/cgroup; fi
exec dockerd --config-file "$dir/daemon.json" --data-root "$dir/lib" --exec-root "$dir/exec" \
  --pidfile "$dir/docker.pid" -H "unix://$dir/docker.sock" --storage-driver vfs \
  --cgroup-parent "/$parent" >"$dir/dockerd.log" 2>&1
"""
# Run on the target, outside the world: waits for the world's holder to end (GNU tail
# --pid polls with kill(0), no process per poll), then removes the daemon's cgroups,
# deepest first. Their processes are gone by then (the PID namespace's init waits for
# all of them as it exits), but on a loaded machine runc's own removal may still be under
# way: it tries for up to 60 s (at load 20 on 2 cores, 1 s of tries left a parent behind).
REAPER = r"""
set -u
pid=$1 parent=$2
trap '' PIPE # our reader may be gone (`nslab up` returned): its last line then goes nowhere
echo nslab-docker-reaper
# not on the pipe: tail -f ends at once when its output's reader is gone (coreutils
# >= 8.28), which left `nslab down`'s cgroups behind (measured)
tail -s 0.1 --pid="$pid" -f /dev/null >/dev/null 2>&1
for _ in $(seq 600); do
  left=0
  for d in /sys/fs/cgroup/"$parent" /sys/fs/cgroup/*/"$parent"; do
    if [ -d "$d" ]; then find "$d" -depth -type d -exec rmdir {} + 2>/dev/null || left=1; fi
  done
  if [ "$left" = 0 ]; then break; fi
  sleep 0.1
done
echo nslab-docker-reaped || true
"""

UNLIMITED_ICMP = "net.ipv4.icmp_ratelimit=0"  # ICMP errors unthrottled in a container too
# where the kernel has them per network namespace (icmp_msgs_*: older kernels have
# them machine-wide only, absent in a namespace) and where it has IPv6
MAYBE_UNLIMITED_ICMP = (
    "net.ipv4.icmp_msgs_per_sec=1000000",
    "net.ipv4.icmp_msgs_burst=1000000",
    "net.ipv6.icmp.ratelimit=0",
)

# Each container runs Docker's own init (tini, `--init`: `docker stop` ends it at once
# instead of waiting 10 s on a PID 1 that ignores SIGTERM) and busybox httpd on each TCP
# port it publishes, so a probe that reaches it is accepted; busybox has no UDP server:
# UDP ports are answered by nslab's own listener in the container's namespace.
SERVE = 'for p in "$@"; do httpd -p "$p" -h /; done; exec sleep 2147483647'


def docker_env(key: str) -> dict[str, str]:
    """What a `docker` command needs to talk to `key`'s daemon, and only to it."""
    return {"DOCKER_HOST": f"unix://{ROOT}/{key}/docker.sock", "DOCKER_CONFIG": f"{ROOT}/{key}/cli"}


def cgroup_parent(world_pid: int, key: str) -> str:
    return f"nslab-docker-{world_pid}-{key}"


def missing(target: Target) -> str | None:
    """Why Docker cannot run on `target` (what to install), or None."""
    if not target.is_root:
        return f"Docker on a lab host needs root on {target.name} (dockerd makes cgroups and mounts)"
    for tool, package in (("dockerd", "docker.io"), ("docker", "docker.io"), ("containerd", "containerd")):
        if not target.run(["sh", "-c", f"command -v {tool}"], timeout=10).ok:
            return f"{tool}, which {target.name} lacks (apt-get install {package})"
    static = target.run(["ldd", "/bin/busybox"], timeout=10)
    if "not a dynamic executable" not in static.output:
        image = "a static /bin/busybox for the containers' image"
        return f"{image}, which {target.name} lacks (apt-get install busybox-static)"
    return None


@dataclass
class Daemon:
    """One running dockerd: on lab host `key` (network namespace `ns`), or on the lab's
    host (`key` "host", `ns` None: the world's root namespace)."""

    world: World
    key: str
    ns: str | None
    process: Spawned
    reaper: Spawned
    containers: dict[str, Container] = field(default_factory=dict)
    forward_policy_before: str = ""  # the FORWARD policy before dockerd started
    forward_policy_after: str = ""
    bridge: ipaddress.IPv4Network = DEFAULT_BIP.network  # docker0's subnet
    backend: str = "nf_tables"  # of the iptables dockerd runs (`iptables -V`): or legacy

    @property
    def dir(self) -> str:
        return f"{ROOT}/{self.key}"

    @property
    def env(self) -> dict[str, str]:
        return docker_env(self.key)

    def docker(self, args: list[str], *, check: bool = True, timeout: float = 60.0) -> Result:
        return self.world.run(["docker", *args], env=self.env, check=check, timeout=timeout)

    def log_tail(self, lines: int = 5, sep: str = " | ") -> str:
        out = self.world.run(["tail", "-n", str(lines), f"{self.dir}/dockerd.log"]).stdout
        return sep.join(line.strip() for line in out.splitlines() if line.strip())

    def run_container(self, c: Container) -> None:
        """`docker run` of the container, then its network namespace named as the place
        (`ip netns attach`), so steps and explore probe from and to it as from a host."""
        tcp = [str(p) for p in c.ports("tcp")]
        publish = [arg for p in c.publish for arg in p.argv()]
        args = ["run", "-d", "--init", "--name", c.name, *publish, IMAGE, "sh", "-c", SERVE, "serve", *tcp]
        self.docker(args)
        found = self.docker(["inspect", "-f", "{{.State.Pid}} {{.NetworkSettings.IPAddress}}", c.name])
        pid, _, address = found.stdout.strip().partition(" ")
        if c.address is not None and address != str(c.address):
            raise TargetError(
                f"container {c.name} on {self.key} got address {address}, not {c.address} as nslab "
                "worked out from Docker's bridge",
                "start no other containers on that host before the lab's (the lab's are started in order)",
            )
        self.world.run(["ip", "netns", "attach", c.name, pid], check=True)
        # ICMP errors unthrottled here too, as in every lab namespace (20-networks.sh): dockerd
        # makes the container's namespace with the kernel's defaults (icmp_ratelimit=1000,
        # icmp_msgs_per_sec=1000, icmp_msgs_burst=50), so its answers to a burst of probes
        # (port unreachable for closed UDP ports) would thin out as a lab host's did
        self.world.run(["sysctl", "-qw", UNLIMITED_ICMP], ns=c.name, check=True)
        # one sysctl: a setting it cannot find fails it, and it sets the others all the same
        self.world.run(["sysctl", "-qw", *MAYBE_UNLIMITED_ICMP], ns=c.name)
        self.containers[c.name] = c
        self._serving(c, tcp)

    def _serving(self, c: Container, ports: list[str]) -> None:
        """Until the container's httpd listens on each TCP port: `docker run -d` returns once
        its process started, and a probe sent before httpd binds would be refused."""
        deadline = time.monotonic() + READY_WAIT
        while ports and time.monotonic() < deadline:
            listing = self.world.run(["ss", "-Htln"], ns=c.name).stdout
            bound = {
                line.split()[3].rpartition(":")[2] for line in listing.splitlines() if len(line.split()) > 3
            }
            if set(ports) <= bound:
                return
            time.sleep(0.02)
        if ports:
            raise TargetError(
                f"container {c.name} on {self.key} does not listen on tcp {', '.join(ports)}",
                "look at `docker logs` in the scenario's diagnostics",
            )


def _policy(world: World, ns: str | None) -> str:
    """The FORWARD chain's policy in `ns` (iptables -S prints `-P FORWARD DROP` first)."""
    out = world.run(["iptables", "-w", "-S", "FORWARD"], ns=ns).stdout
    words = out.split("\n", 1)[0].split()
    return words[2] if len(words) == 3 and words[:2] == ["-P", "FORWARD"] else ""


def start(
    world: World,
    key: str,
    ns: str | None,
    spec: DockerSpec,
    daemon_json: bytes | None = None,
    started: Callable[[Daemon], None] = lambda _: None,
    detach: bool = False,
) -> Daemon:
    """dockerd for `key`, ready, with the image imported and the spec's containers running.
    `started` has the daemon as soon as it was spawned: if a later step fails, whoever
    ends the world still waits for its reaper (nslab.managers.docker_session). `detach`:
    dockerd outlives this process (`nslab up`: the persistent world ends it)."""
    target = world.target
    parent = cgroup_parent(world.info.pid, key)
    directory = f"{ROOT}/{key}"
    world.run(["mkdir", "-p", f"{directory}/cli"], check=True)
    world.put(f"{directory}/daemon.json", daemon_json or b"{}\n")
    # the reaper first: from here on, whatever ends the world, the cgroups go with it
    reaper = target.spawn(
        ["bash", "-c", REAPER, "nslab-docker-reaper", str(world.info.pid), parent], detach=True
    )
    if reaper.readline(10.0).strip() != "nslab-docker-reaper":
        reaper.kill()
        raise TargetError(f"could not start the cleaner of {key}'s Docker cgroups on {target.name}")
    before = _policy(world, ns)
    enter = ["ip", "netns", "exec", ns] if ns else []
    argv = [*enter, "unshare", "--mount", "--propagation", "private"]
    process = world.spawn([*argv, "bash", "-c", LAUNCHER, "nslab-docker", directory, parent], detach=detach)
    daemon = Daemon(world, key, ns, process, reaper, forward_policy_before=before, bridge=spec.bip.network)
    started(daemon)
    _wait_ready(daemon)
    daemon.forward_policy_after = _policy(world, ns)
    version = world.run(["iptables", "-V"]).stdout
    daemon.backend = "legacy" if "(legacy)" in version else "nf_tables"
    if spec.containers:
        import_image(world, directory, daemon.env)
        for c in spec.containers:
            daemon.run_container(c)
    return daemon


def _wait_ready(daemon: Daemon) -> None:
    deadline = time.monotonic() + READY_WAIT
    while time.monotonic() < deadline:
        if daemon.docker(["version", "--format", "{{.Server.Version}}"], check=False, timeout=10).ok:
            return
        if daemon.process.wait(0) is not None:
            break
        time.sleep(0.05)
    where = f"lab host {daemon.key}" if daemon.ns else "the lab's host"
    raise TargetError(
        f"dockerd on {where} did not start: {daemon.log_tail() or 'no log'}",
        "run `nslab doctor`; the daemon's log is in the scenario's diagnostics",
    )


def finish(daemons: Mapping[str, Daemon], timeout: float = 90.0) -> list[str]:
    """After their world ended: wait for each reaper to remove its daemon's cgroups. The
    names of those not removed in `timeout`: none, normally. A reaper is never killed
    (that would leave its cgroups for good): one still trying goes on alone."""
    left = []
    for d in daemons.values():
        if d.reaper.readline(timeout).strip() == "nslab-docker-reaped":
            d.reaper.wait(timeout)
        else:
            left.append(cgroup_parent(d.world.info.pid, d.key))
        d.process.kill()
    return left


def check_daemon_file(spec: DockerSpec) -> bytes | None:
    if spec.daemon is None:
        return None
    try:
        return spec.daemon.read_bytes()
    except OSError as exc:
        raise LabError(f"docker daemon file {spec.daemon}: {exc}", "fix the path in the lab file") from None
