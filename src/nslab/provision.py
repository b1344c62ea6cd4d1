"""Provision stages: the bash files in provision/ are the ONE place lab state is built.

Python only renders the lab model into NSLAB_* environment variables and runs the files,
in order, on a target or in a world; the Vagrantfile runs the very same files. Scenarios
can stop the story at any stage: `provision(world, lab, upto="gateway")`.

>>> sorted(lab_env(default_lab()))[:3]
['NSLAB_BRIDGE', 'NSLAB_CHAIN', 'NSLAB_DNS']
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from nslab.errors import LabError
from nslab.lab import Lab, default_lab

if TYPE_CHECKING:
    from nslab.targets.base import Result

STAGE_RE = re.compile(r"(\d\d)-([a-z]+)\.sh\Z")


class Runner(Protocol):
    provision_dir: str

    def run(
        self,
        cmd: list[str] | str,
        *,
        env: Mapping[str, str] | None = None,
        check: bool = False,
        timeout: float = 60.0,
    ) -> Result: ...


def stage_dir() -> Path:
    """provision/ as installed in the wheel, or at the top of a source checkout."""
    here = Path(__file__).resolve().parent
    for candidate in (here / "provision", here.parents[1] / "provision"):
        if (candidate / "lib.sh").exists():
            return candidate
    raise LabError("cannot find the provision/ stages", "reinstall nslab or run from its checkout")


@dataclass(frozen=True)
class Stage:
    """One provision file: `NN-name.sh`, run after every lower number."""

    order: int
    name: str
    path: Path


def stages() -> list[Stage]:
    found = []
    for path in stage_dir().iterdir():
        m = STAGE_RE.match(path.name)
        if m:
            found.append(Stage(int(m.group(1)), m.group(2), path))
    return sorted(found, key=lambda s: s.order)


def stage_names() -> list[str]:
    return [s.name for s in stages()]


def select(upto: str | None = None, only: list[str] | None = None) -> list[Stage]:
    """The stages to run: all of them, every stage up to and including `upto`, or `only`."""
    all_stages = stages()
    names = [s.name for s in all_stages]
    for wanted in ([upto] if upto else []) + list(only or []):
        if wanted not in names:
            raise LabError(f"unknown provision stage '{wanted}'", "use one of: " + ", ".join(names))
    if only:
        return [s for s in all_stages if s.name in only]
    if upto:
        return all_stages[: names.index(upto) + 1]
    return all_stages


def lab_env(lab: Lab) -> dict[str, str]:
    """The lab as NSLAB_* variables: the stages' only input (never string-built shell)."""
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


def provision(
    runner: Runner, lab: Lab, *, upto: str | None = None, only: list[str] | None = None, check: bool = True
) -> list[Result]:
    """Run the selected stages in order, in one call; the first failure raises with its stderr."""
    chosen = select(upto, only)
    if not chosen:
        return []
    run_sh = f"{runner.provision_dir}/run.sh"
    return [runner.run(["bash", run_sh, *(s.path.name for s in chosen)], env=lab_env(lab), check=check)]


def teardown(runner: Runner, lab: Lab) -> Result:
    """Undo the stages on a real root namespace (`@host`, Vagrant); worlds need none."""
    return runner.run(["bash", f"{runner.provision_dir}/teardown.sh"], env=lab_env(lab), check=True)


def shell_exports(lab: Lab) -> str:
    """The lab's NSLAB_* variables as `export` lines a shell can source (quoted once)."""
    import shlex

    return "".join(f"export {key}={shlex.quote(value)}\n" for key, value in sorted(lab_env(lab).items()))


def main(argv: list[str] | None = None) -> int:
    """`python3 -m nslab.provision env [LAB.toml]`: for a VM or a shell that runs the stages
    without nslab (the Vagrantfile does), so the lab file stays the one source of values."""
    import sys

    from nslab.lab import load_lab

    args = sys.argv[1:] if argv is None else argv
    if not args or args[0] != "env" or len(args) > 2:
        print("usage: python3 -m nslab.provision env [LAB.toml]", file=sys.stderr)
        return 64
    try:
        lab = load_lab(args[1]) if len(args) == 2 else default_lab()
    except LabError as exc:
        print(f"nslab: {exc}", file=sys.stderr)
        return 2
    sys.stdout.write(shell_exports(lab))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
