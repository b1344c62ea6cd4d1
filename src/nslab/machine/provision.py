"""Provision stages: the bash files in provision/ are the ONE place lab state is built.

Python only renders the lab model into NSLAB_* environment variables and runs the files,
in order, on a target or in a world; the Vagrantfile runs the very same files. There is
one set of stages for every lab: each builds only what the lab declares, and a stage
whose `# when: PART` line names a part the lab lacks (`Lab.declares`) is not among the
lab's stages. Scenarios can stop the story at any stage: `provision(world, lab,
upto="gateway")`.

>>> [s.name for s in lab_stages(default_lab())]
['sysctl', 'networks', 'firewall', 'gateway', 'upstream', 'forward', 'nat', 'dns']
>>> sorted(lab_env(default_lab()))[:3]
['NSLAB_BACKEND', 'NSLAB_BRIDGE', 'NSLAB_CHAIN']
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from nslab.commands import CommandError, Result, Runner
from nslab.errors import LabError, NslabError
from nslab.firewall import RULESETS, rulesets
from nslab.firewall.places import dnat_addresses
from nslab.lab import Lab, default_lab
from nslab.managers.common import manager_lines, put_manager_files
from nslab.paths import stage_dir

STAGE_RE = re.compile(r"(\d\d)-([a-z]+)\.sh\Z")
# Names a stage had before the stage sets were one: the seed story's "topology" is the
# networks stage (its features and users' scripts say `--upto topology`).
ALIASES = {"topology": "networks"}
# What a lab without a stage lacks, for the one line that refuses it.
PARTS = {
    "routes": "routes (a host's routes = [...])",
    "rulesets": "ruleset files (a host's firewall = { nft = ... })",
    "managers": "firewall managers (a host's firewall = { ufw = ... } or { firewalld = ... })",
    "gateway": 'network whose gateway is the host (gateway = "ADDRESS", or the seed\'s [bridge])',
    "firewall": "chain on the host ([firewall] chain = ..., as the seed story's NAVY)",
    "upstream": 'simulated internet (an [upstream] table, e.g. via = "ROUTER")',
    "dns": "simulated internet, whose DNS server this stage starts (an [upstream] table)",
}


@dataclass(frozen=True)
class Stage:
    """One provision file: `NN-name.sh`, run after every lower number."""

    order: int
    name: str
    path: Path
    needs: tuple[str, ...] = ()  # what the target must have, from a "# needs: ..." line
    when: str | None = None  # the part of a lab it builds, from a "# when: ..." line

    @property
    def file(self) -> str:
        """As run.sh takes it: `20-networks.sh`."""
        return self.path.name

    def builds_for(self, lab: Lab) -> bool:
        return self.when is None or self.when in lab.declares


@functools.cache  # the stage files are the package's: read once, not on every provision
def stages() -> tuple[Stage, ...]:
    found = []
    for path in stage_dir().iterdir():
        m = STAGE_RE.match(path.name)
        if m:
            head = {}
            for line in path.read_text().splitlines()[1:]:
                if not line.startswith("#"):
                    break  # the header comment ends at the first command
                key, _, value = line[1:].partition(":")
                head[key.strip()] = value.strip()
            needs = tuple(n.strip() for n in head.get("needs", "").split(",") if n.strip())
            found.append(Stage(int(m.group(1)), m.group(2), path, needs, head.get("when") or None))
    return tuple(sorted(found, key=lambda s: s.order))


def lab_stages(lab: Lab) -> list[Stage]:
    """The stages that build something for `lab`, in order."""
    return [s for s in stages() if s.builds_for(lab)]


def stage_names(lab: Lab) -> list[str]:
    return [s.name for s in lab_stages(lab)]


def select(lab: Lab, upto: str | None = None, only: list[str] | None = None) -> list[Stage]:
    """The stages to run: all of the lab's, every one up to and including `upto`, or `only`;
    a stage the lab has nothing for is one line naming what the lab lacks."""
    mine = lab_stages(lab)
    names = [s.name for s in mine]
    every = {s.name: s for s in stages()}
    wanted = [ALIASES.get(w, w) for w in ([upto] if upto else []) + list(only or [])]
    for name in wanted:
        if name not in every:
            raise LabError(f"unknown provision stage '{name}'", "use one of: " + ", ".join(names))
        if name not in names:
            lacks = PARTS.get(every[name].when or "", every[name].when or "")
            raise LabError(
                f"lab '{lab.name}' has no {name} stage: it has no {lacks}",
                "give the lab that part, or build what it has: its stages are " + ", ".join(names),
            )
    if only:
        chosen = set(wanted[1:] if upto else wanted)
        return [s for s in mine if s.name in chosen]
    if upto:
        return mine[: names.index(wanted[0]) + 1]
    return mine


def lab_env(lab: Lab, placed: dict[Path, str] | None = None) -> dict[str, str]:
    """The lab as NSLAB_* variables, the stages' only input (never string-built shell): one
    line per network, host, interface, route and ruleset (`placed` maps the user's ruleset
    files to where they were put on the target), the upstream, and, where the lab has a
    network whose gateway is the host, the seed's variables for it."""
    up = lab.upstream

    def opt(value: object) -> str:
        return "-" if value is None else str(value)

    env = {
        "NSLAB_LAB": lab.name,
        "NSLAB_BACKEND": lab.backend,
        "NSLAB_V6": "1" if lab.v6 else "",
        "NSLAB_ROUTING": "1" if lab.v6 or any(h.router or h.routes for h in lab.hosts) else "",
        "NSLAB_NETWORKS": "\n".join(
            f"{n.name} {n.bridge} {opt(n.host)} {opt(n.host6)}" for n in lab.networks
        ),
        "NSLAB_HOSTS": "\n".join(f"{h.name} {int(h.router)}" for h in lab.hosts),
        "NSLAB_INTERFACES": "\n".join(
            f"{h.name} {i.name} {i.peer} {n.bridge} {opt(i.address)} {opt(i.address6)} {opt(i.mtu)}"
            f" {','.join(map(str, i.extra)) or '-'}"
            for h, i, n in lab.attachments()
        ),
        "NSLAB_SYSCTLS": "\n".join(f"{h.name} {k}={v}" for h in lab.hosts for k, v in h.sysctls),
        "NSLAB_ROUTES": "\n".join(
            f"{h.name} {6 if r.v6 else 4} {r.dst} {r.via}" for h in lab.hosts for r in h.routes
        ),
        "NSLAB_RULESETS": "\n".join(_ruleset_lines(lab, placed or {})),
        "NSLAB_MANAGERS": manager_lines(lab),  # ufw, firewalld hosts (nslab.managers)
        "NSLAB_HOST_SYSCTLS": " ".join(f"{k}={v}" for k, v in lab.host_sysctls),
        "NSLAB_UPSTREAM_NS": up.namespace,
        "NSLAB_UPSTREAM_VIA": up.via or "",
        "NSLAB_UPLINK": up.uplink,
        "NSLAB_UPLINK_PEER": up.peer,
        "NSLAB_UPLINK_ADDRESS": str(up.host_address),
        "NSLAB_ISP_ADDRESS": str(up.isp_address),
        "NSLAB_SERVER": str(up.server),
        "NSLAB_DNS": str(up.dns),
        "NSLAB_DOMAIN": up.domain,
        "NSLAB_UPLINK_ADDRESS6": str(up.host_address6) if up.host_address6 else "",
        "NSLAB_ISP_ADDRESS6": str(up.isp_address6) if up.isp_address6 else "",
        "NSLAB_SERVER6": str(up.server6) if up.server6 else "",
        "NSLAB_DNS6": str(up.dns6) if up.dns6 else "",
        # the lab's public networks, which the internet routes back to through the uplink
        "NSLAB_PUBLIC_PREFIXES": " ".join(public_prefixes(lab)),
    }
    gw = lab.gateway_network
    if gw is not None and gw.gateway is not None:
        on_it = [(h, i) for h, i, n in lab.attachments() if n is gw]
        env |= {
            "NSLAB_SUBNET": str(gw.subnet),
            "NSLAB_BRIDGE": gw.bridge,
            "NSLAB_GATEWAY": str(gw.gateway),
            "NSLAB_NAMESPACES": "\n".join(f"{h.name} {i.name} {i.peer} {i.address}" for h, i in on_it),
        }
    if lab.firewall is not None:
        env |= {"NSLAB_CHAIN": lab.firewall.chain, "NSLAB_FORWARD_POLICY": lab.firewall.policy}
    return {k: v for k, v in env.items() if v}  # an empty one is a part the lab lacks


def _ruleset_lines(lab: Lab, placed: dict[Path, str]) -> list[str]:
    """HOST KIND FILE LOADER... per ruleset file; HOST "-" is the lab's host (the world's
    root namespace: no netns to enter)."""
    files = [(h.name, r) for h in lab.hosts for r in h.rulesets] + [("-", r) for r in lab.host_rulesets]
    return [
        " ".join([name, r.kind, placed.get(r.path, str(r.path)), *RULESETS[r.kind].loader(lab.backend)])
        for name, r in files
    ]


RULESET_DIR = "/run/nslab/rulesets"  # in a world's own /run: written, never the host's files


def public_prefixes(lab: Lab) -> list[str]:
    """The lab's public networks and the public addresses its rulesets DNAT (1:1 NAT)."""
    ones = [f"{a}/{128 if ':' in a else 32}" for addresses in dnat_addresses(lab).values() for a in addresses]
    return [*lab.public_prefixes, *ones]


def put_rulesets(
    runner: Runner, lab: Lab, files: dict[Path, list[rulesets.Placed]] | None = None
) -> dict[Path, str]:
    """The user's ruleset files, copied onto the target (a remote machine has none of them),
    with the files they include (nft's include, read from the including file's folder)."""
    files = files if files is not None else ruleset_files(lab)
    folders = sorted({str(PurePosixPath(f.where).parent) for tree in files.values() for f in tree})
    if folders:
        runner.run(["mkdir", "-p", *folders], check=True)
    for tree in files.values():
        for f in tree:
            runner.put(f.where, f.data)
    return {path: tree[0].where for path, tree in files.items()}


def ruleset_files(lab: Lab) -> dict[Path, list[rulesets.Placed]]:
    """Each ruleset file of the lab with its includes, as they are put on the target."""
    return {
        r.path: rulesets.placements(r.kind, r.path, f"{RULESET_DIR}/{host.name}-{r.kind}")
        for host in lab.hosts
        for r in host.rulesets
    } | {  # the lab's host's own: "host", a name no lab host may have
        r.path: rulesets.placements(r.kind, r.path, f"{RULESET_DIR}/host-{r.kind}") for r in lab.host_rulesets
    }


def check_rulesets(runner: Runner, lab: Lab) -> None:
    """Every ruleset file of the lab loads in `runner` (a throwaway world) before anything is
    built, with links named like its host's interfaces (`iif "eth0"` loads); the first that
    does not is one LabError naming the file, the faulty rule's line and a fix (nslab.firewall.rulesets)."""
    files = ruleset_files(lab)
    placed = put_rulesets(runner, lab, files)
    for host in lab.hosts:
        if not host.rulesets:
            continue
        names = rulesets.interface_names(lab, host)
        with rulesets.host_interfaces(runner, names):
            for r in host.rulesets:
                found = rulesets.check_file(runner, r.kind, r.path, placed[r.path], names, files[r.path])
                if found is not None:
                    rulesets.raise_for(host.name, r.kind, found)
    for r in lab.host_rulesets:
        found = rulesets.check_file(runner, r.kind, r.path, placed[r.path], (), files[r.path])
        if found is not None:
            rulesets.raise_for("the lab's host", r.kind, found)


def provision(
    runner: Runner,
    lab: Lab,
    *,
    upto: str | None = None,
    only: list[str] | None = None,
    check: bool = True,
) -> list[Result]:
    """Run the selected stages in order, in one call; the first failure raises with its stderr."""
    chosen = select(lab, upto, only)
    if not chosen:
        return []
    placed = put_rulesets(runner, lab) if any(s.name == "rulesets" for s in chosen) else None
    if any(s.name == "managers" for s in chosen):
        put_manager_files(runner, lab)
    env = lab_env(lab, placed)
    run_sh = f"{runner.provision_dir}/run.sh"
    result = runner.run(["bash", run_sh, *(s.file for s in chosen)], env=env)
    if check and not result.ok:
        raise StageError(result)
    return [result]


# run.sh's and the managers stage's summaries: what failed is on the lines before them
SUMMARIES = re.compile(r"nslab: (provision stage \S+ failed|managers: no manager started on)")


class StageError(CommandError):
    """A stage that failed, its own one line first (`pg: `ufw deny 99999/tcp` failed:
    ERROR: Bad port`), then the command and its output's tail; before, the line led with
    `bash .../run.sh ...` exited 1 and the user had to find the cause among the stages'."""

    def __init__(self, result: Result) -> None:
        super().__init__(result)
        lines = [ln.strip() for ln in result.stderr.splitlines()]
        lead = next((ln for ln in lines if ln.startswith("nslab: ") and not SUMMARIES.match(ln)), None)
        if lead is not None:
            NslabError.__init__(self, f"{lead.removeprefix('nslab: ')}; from {self.problem}", self.fix)


def teardown(runner: Runner, lab: Lab) -> Result:
    """Undo the stages on a real root namespace (`@host`, Vagrant); worlds need none."""
    return runner.run(["bash", f"{runner.provision_dir}/teardown.sh"], env=lab_env(lab), check=True)


def shell_exports(lab: Lab) -> str:
    """The lab's NSLAB_* variables as `export` lines a shell can source (quoted once)."""
    import shlex

    return "".join(f"export {key}={shlex.quote(value)}\n" for key, value in sorted(lab_env(lab).items()))


def main(argv: list[str] | None = None) -> int:
    """`python3 -m nslab.machine.provision env [LAB.toml]`: for a VM or a shell that runs the stages
    without nslab (the Vagrantfile does), so the lab file stays the one source of values;
    `stages [LAB.toml]`: the lab's stage files, in order."""
    import sys

    from nslab.lab import load_lab

    args = sys.argv[1:] if argv is None else argv
    if not args or args[0] not in ("env", "stages") or len(args) > 2:
        print("usage: python3 -m nslab.machine.provision env|stages [LAB.toml]", file=sys.stderr)
        return 64
    try:
        lab = load_lab(args[1]) if len(args) == 2 else default_lab()
    except LabError as exc:
        print(f"nslab: {exc}", file=sys.stderr)
        return 2
    if args[0] == "stages":  # the lab's stage files, in order, as run.sh takes them
        sys.stdout.write("".join(f"{s.file}\n" for s in lab_stages(lab)))
        return 0
    sys.stdout.write(shell_exports(lab))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
