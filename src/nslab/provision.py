"""Provision stages: the bash files in provision/ are the ONE place lab state is built.

Python only renders the lab model into NSLAB_* environment variables and runs the files,
in order, on a target or in a world; the Vagrantfile runs the very same files. Scenarios
can stop the story at any stage: `provision(world, lab, upto="gateway")`.

>>> sorted(lab_env(default_lab()))[:3]
['NSLAB_BRIDGE', 'NSLAB_CHAIN', 'NSLAB_DNS']
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from pathlib import Path

from nslab import rulesets
from nslab.commands import Result, Runner
from nslab.errors import LabError
from nslab.lab import Lab, default_lab
from nslab.paths import stage_dir
from nslab.routed import RoutedLab

STAGE_RE = re.compile(r"(\d\d)-([a-z]+)\.sh\Z")


# Each kind of lab has its story of stages: the seed's in provision/, routed labs' in
# provision/routed/ (a new kind of lab adds its folder here and its stages there).
STORIES = {"seed": "", "routed": "routed"}


@dataclass(frozen=True)
class Stage:
    """One provision file: `NN-name.sh`, run after every lower number of its story."""

    order: int
    name: str
    path: Path
    story: str = ""
    needs: tuple[str, ...] = ()  # what the target must have, from a "# needs: ..." line

    @property
    def file(self) -> str:
        """As run.sh takes it: `20-topology.sh`, `routed/20-networks.sh`."""
        return f"{self.story}/{self.path.name}" if self.story else self.path.name


def stages(kind: str = "seed") -> list[Stage]:
    return list(_stages(kind))


@functools.cache  # the stage files are the package's: read once, not on every provision
def _stages(kind: str) -> tuple[Stage, ...]:
    story = STORIES[kind]
    found = []
    for path in (stage_dir() / story).iterdir():
        m = STAGE_RE.match(path.name)
        if m:
            head = path.read_text().splitlines()[:8]
            need = next((x.split(":", 1)[1] for x in head if x.startswith("# needs:")), "")
            needs = tuple(n.strip() for n in need.split(",") if n.strip())
            found.append(Stage(int(m.group(1)), m.group(2), path, story, needs))
    return tuple(sorted(found, key=lambda s: s.order))


def stage_names(kind: str = "seed") -> list[str]:
    return [s.name for s in stages(kind)]


def select(upto: str | None = None, only: list[str] | None = None, kind: str = "seed") -> list[Stage]:
    """The stages to run: all of them, every stage up to and including `upto`, or `only`."""
    all_stages = stages(kind)
    names = [s.name for s in all_stages]
    for wanted in ([upto] if upto else []) + list(only or []):
        if wanted not in names:
            raise LabError(f"unknown provision stage '{wanted}'", "use one of: " + ", ".join(names))
    if only:
        return [s for s in all_stages if s.name in only]
    if upto:
        return all_stages[: names.index(upto) + 1]
    return all_stages


def lab_env(lab: Lab | RoutedLab) -> dict[str, str]:
    """The lab as NSLAB_* variables: the stages' only input (never string-built shell)."""
    if isinstance(lab, RoutedLab):
        return routed_env(lab)
    up = lab.upstream
    return {
        "NSLAB_LAB": lab.name,
        "NSLAB_SUBNET": str(lab.subnet),
        "NSLAB_BRIDGE": lab.bridge.name,
        "NSLAB_GATEWAY": str(lab.bridge.gateway),
        "NSLAB_CHAIN": lab.firewall.chain,
        "NSLAB_FORWARD_POLICY": lab.firewall.policy,
        "NSLAB_NAMESPACES": "\n".join(
            f"{ns.name} {ns.interface} {ns.peer} {ns.address}" for ns in lab.namespaces
        ),
        "NSLAB_UPSTREAM_NS": up.namespace,
        "NSLAB_UPLINK": up.uplink,
        "NSLAB_UPLINK_PEER": up.peer,
        "NSLAB_UPLINK_ADDRESS": str(up.host_address),
        "NSLAB_ISP_ADDRESS": str(up.isp_address),
        "NSLAB_SERVER": str(up.server),
        "NSLAB_DNS": str(up.dns),
        "NSLAB_DOMAIN": up.domain,
    }


def routed_env(lab: RoutedLab, rulesets: dict[Path, str] | None = None) -> dict[str, str]:
    """A routed lab's variables: one line per network, host, interface, route and ruleset.
    `rulesets` maps the user's files to where they were put on the target."""
    up = lab.upstream

    def opt(value: object) -> str:
        return "-" if value is None else str(value)

    return {
        "NSLAB_LAB": lab.name,
        "NSLAB_BACKEND": lab.backend,
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
        "NSLAB_RULESETS": "\n".join(
            f"{h.name} {r.kind} {(rulesets or {}).get(r.path, r.path)}" for h in lab.hosts for r in h.rulesets
        ),
        "NSLAB_UPSTREAM_NS": up.namespace,
        "NSLAB_UPSTREAM_VIA": up.via or "",
        "NSLAB_UPLINK": up.uplink,
        "NSLAB_UPLINK_PEER": up.peer,
        "NSLAB_UPLINK_ADDRESS": str(up.host_address),
        "NSLAB_UPLINK_ADDRESS6": str(up.host_address6),
        "NSLAB_ISP_ADDRESS": str(up.isp_address),
        "NSLAB_ISP_ADDRESS6": str(up.isp_address6),
        "NSLAB_SERVER": str(up.server),
        "NSLAB_SERVER6": str(up.server6),
        "NSLAB_DNS": str(up.dns),
        "NSLAB_DNS6": str(up.dns6),
        "NSLAB_DOMAIN": up.domain,
    }


RULESET_DIR = "/run/nslab/rulesets"  # in a world's own /run: written, never the host's files


def put_rulesets(runner: Runner, lab: RoutedLab) -> dict[Path, str]:
    """The user's ruleset files, copied onto the target (a remote machine has none of them)."""
    files = [(host, r) for host in lab.hosts for r in host.rulesets]
    if files:
        runner.run(["mkdir", "-p", RULESET_DIR], check=True)
    placed = {}
    for host, r in files:
        where = f"{RULESET_DIR}/{host.name}-{r.kind}"
        runner.put(where, r.path.read_bytes())
        placed[r.path] = where
    return placed


def check_rulesets(runner: Runner, lab: Lab | RoutedLab) -> None:
    """Every ruleset file of the lab loads in `runner` (a throwaway world) before anything is
    built; the first that does not is one LabError naming the file, the faulty rule's line
    and a fix (nslab.rulesets)."""
    if not isinstance(lab, RoutedLab):
        return
    placed = put_rulesets(runner, lab)
    for host in lab.hosts:
        for r in host.rulesets:
            found = rulesets.check_file(runner, r.kind, r.path, placed[r.path])
            if found is not None:
                rulesets.raise_for(host.name, r.kind, found)


def provision(
    runner: Runner,
    lab: Lab | RoutedLab,
    *,
    upto: str | None = None,
    only: list[str] | None = None,
    check: bool = True,
) -> list[Result]:
    """Run the selected stages in order, in one call; the first failure raises with its stderr."""
    chosen = select(upto, only, lab.kind)
    if not chosen:
        return []
    if isinstance(lab, RoutedLab) and any(s.name == "rulesets" for s in chosen):
        env = routed_env(lab, put_rulesets(runner, lab))
    else:
        env = lab_env(lab)
    run_sh = f"{runner.provision_dir}/run.sh"
    return [runner.run(["bash", run_sh, *(s.file for s in chosen)], env=env, check=check)]


def teardown(runner: Runner, lab: Lab | RoutedLab) -> Result:
    """Undo the stages on a real root namespace (`@host`, Vagrant); worlds need none."""
    return runner.run(["bash", f"{runner.provision_dir}/teardown.sh"], env=lab_env(lab), check=True)


def shell_exports(lab: Lab | RoutedLab) -> str:
    """The lab's NSLAB_* variables as `export` lines a shell can source (quoted once)."""
    import shlex

    return "".join(f"export {key}={shlex.quote(value)}\n" for key, value in sorted(lab_env(lab).items()))


def main(argv: list[str] | None = None) -> int:
    """`python3 -m nslab.provision env [LAB.toml]`: for a VM or a shell that runs the stages
    without nslab (the Vagrantfile does), so the lab file stays the one source of values;
    `stages [LAB.toml]`: the lab's stage files, in order."""
    import sys

    from nslab.labfile import load_lab

    args = sys.argv[1:] if argv is None else argv
    if not args or args[0] not in ("env", "stages") or len(args) > 2:
        print("usage: python3 -m nslab.provision env|stages [LAB.toml]", file=sys.stderr)
        return 64
    try:
        lab = load_lab(args[1]) if len(args) == 2 else default_lab()
    except LabError as exc:
        print(f"nslab: {exc}", file=sys.stderr)
        return 2
    if args[0] == "stages":  # the lab's stage files, in order, as run.sh takes them
        sys.stdout.write("".join(f"{s.file}\n" for s in select(kind=lab.kind)))
        return 0
    sys.stdout.write(shell_exports(lab))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
