"""`nslab doctor`: can this machine run labs? Each check says what to install or enable.

Kernel features are probed inside a throwaway world, so the doctor itself never changes
the host's network. Loading a module (br_netfilter) is a host-wide change: the doctor
names it and leaves the decision to the user.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from nslab import needs
from nslab.errors import NslabError
from nslab.machine.targets.base import Target
from nslab.machine.world import World


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str
    fix: str = ""


def _missing(target: Target, programs: list[str]) -> set[str]:
    """Which of `programs` the target's PATH lacks, in one command."""
    script = 'for t in "$@"; do command -v "$t" >/dev/null || echo "$t"; done'
    return set(target.run(["sh", "-c", script, "doctor", *programs]).stdout.split())


def check_tools(target: Target) -> list[Check]:
    checks = []
    tools = needs.of_kind("tool")
    missing = _missing(target, [t.name for t in tools])
    for t in tools:
        if t.name in missing:
            checks.append(Check(f"tool {t.name}", False, f"not found ({t.what})", t.fix))
        else:
            checks.append(Check(f"tool {t.name}", True, t.what))
    return checks


def check_managers(target: Target) -> list[Check]:
    """Optional: a lab naming a manager the target lacks skips its scenarios, saying which
    package to install; listed here so nobody learns it from a skip."""
    rows = needs.of_kind("manager")
    missing = _missing(target, [p for row in rows for p in row.programs])
    checks = []
    for row in rows:
        lacks = [p for p in row.programs if p in missing]
        detail = (
            f"labs with firewall = {{ {row.name} = ... }} run it in their hosts' namespaces"
            if not lacks
            else f"not installed ({', '.join(lacks)} missing): labs naming {row.name} skip; "
            f"to run them: {row.fix}"
        )
        checks.append(Check(f"manager {row.name}", True, detail))
    return checks


def check_privileges(target: Target) -> Check:
    if target.is_root:
        return Check("privileges", True, "running as root")
    out = target.run(
        [
            "sh",
            "-c",
            "cat /proc/sys/user/max_user_namespaces /proc/sys/kernel/unprivileged_userns_clone 2>/dev/null",
        ]
    ).stdout.split()
    if out and all(v != "0" for v in out):
        return Check("privileges", True, "not root: worlds will use a user namespace")
    return Check(
        "privileges",
        False,
        "not root and unprivileged user namespaces are off",
        "run as root (sudo), or sysctl -w kernel.unprivileged_userns_clone=1",
    )


def check_kernel(target: Target) -> list[Check]:
    try:
        world = World.start(target)
    except NslabError as exc:
        return [Check("worlds", False, exc.problem, exc.fix)]
    checks = [Check("worlds", True, "unshare --net --mount --pid works")]
    with world:
        for feature in needs.of_kind("kernel"):
            r = world.run(list(feature.check), timeout=10)
            detail = feature.what if r.ok else (r.output.strip().splitlines() or ["failed"])[-1]
            checks.append(Check(f"kernel {feature.name}", r.ok, detail, "" if r.ok else feature.fix))
    return checks


def run_checks(target: Target, progress: Callable[[Check], None] | None = None) -> list[Check]:
    checks = [check_privileges(target), *check_tools(target), *check_managers(target)]
    if checks[0].ok and all(c.ok for c in checks if c.name in ("tool unshare", "tool nsenter", "tool ip")):
        checks += check_kernel(target)
    for c in checks:
        if progress:
            progress(c)
    return checks
