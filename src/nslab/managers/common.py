"""What ufw and firewalld hosts share: where a manager host's files live in the world,
how the managers stage (provision/56-managers.sh) learns of them, and how a command runs
"on" such a host: in its network namespace and its own mount namespace, where /etc/ufw
or /etc/firewalld is the host's copy and the only system bus is its private one.

Another manager's module (Docker's) adds environment variables for a host's commands with
`add_env_hook` (DOCKER_HOST for its private socket), so `When web runs "..."` serves it too.

>>> host_dir("web")
'/run/nslab/managers/web'
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from nslab.commands import Runner
from nslab.errors import LabError
from nslab.firewall.kind import shown
from nslab.lab import Host, Lab
from nslab.managers import firewalld, ufw
from nslab.managers.kind import ManagerKind

RUN_DIR = "/run/nslab/managers"  # in a world's own /run: never the machine's files
# The manager kinds, one line each (and each its row of nslab.lab.managers.MANAGERS)
KINDS: dict[str, ManagerKind] = {k.name: k for k in (ufw.KIND, firewalld.KIND)}

# Hooks that add environment variables to a host's commands: (lab, host) -> {NAME: VALUE}
EnvHook = Callable[[Lab, Host], dict[str, str]]
_ENV_HOOKS: list[EnvHook] = []


def add_env_hook(hook: EnvHook) -> None:
    """Register `hook`: its variables are set for every command `runs` gives a host."""
    if hook not in _ENV_HOOKS:
        _ENV_HOOKS.append(hook)


def host_dir(host: str) -> str:
    return f"{RUN_DIR}/{host}"


def bus_address(host: str) -> str:
    """The host's private system bus (firewalld's): a path that names it in the world and
    in the host's own mounts alike."""
    return f"unix:path={host_dir(host)}/dbus/system_bus_socket"


def managed(lab: Lab) -> list[Host]:
    """The lab's hosts that run a manager (of one kind: `KINDS[name].hosts(lab)`)."""
    return [h for h in lab.hosts if h.manager is not None]


def env_for(lab: Lab, host: Host) -> dict[str, str]:
    """The variables a command on `host` gets: its private bus where its manager runs on one
    (firewalld: any D-Bus client then reaches that bus, never another), then every hook's."""
    env: dict[str, str] = {}
    if host.manager is not None and KINDS[host.manager.kind].bus:
        env["DBUS_SYSTEM_BUS_ADDRESS"] = bus_address(host.name)
    for hook in _ENV_HOOKS:
        env |= hook(lab, host)
    return env


def host_argv(lab: Lab, host: Host, argv: list[str]) -> list[str]:
    """`argv` as run on `host` inside the world: with a manager, in the host's own mounts
    (its /etc/ufw or /etc/firewalld, its bus); else in its network namespace alone."""
    env = [f"{k}={v}" for k, v in env_for(lab, host).items()]
    prefix = ["env", *env] if env else []
    if host.manager is None:
        return ["ip", "netns", "exec", host.name, *prefix, *argv]
    # the holder process the managers stage left in the host's namespaces (its PID in a file)
    enter = 'holder=$(cat "$1"); shift; exec nsenter --target "$holder" --mount --net -- "$@"'
    return ["sh", "-c", enter, "nslab-host", f"{host_dir(host.name)}/holder", *prefix, *argv]


def command_owner(lab: Lab, host_name: str, argv: list[str]) -> None:
    """A manager's command given to a host that does not run that manager: one line naming
    the hosts that do (or that none does)."""
    tool = Path(argv[0]).name if argv else ""
    kind = next((k for k in KINDS.values() if tool in k.commands), None)
    if kind is None:
        return
    runs = [h.name for h in kind.hosts(lab)]
    if lab.namespace(host_name).name in runs:
        return
    raise LabError(
        f"{host_name} does not run {kind.name}, so `{tool}` has nothing to manage there",
        f"run it on a host that does: {', '.join(runs)}"
        if runs
        else f"no host of lab '{lab.name}' runs {kind.name}: give one firewall = {{ {kind.name} = ... }}",
    )


def manager_lines(lab: Lab) -> str:
    """NSLAB_MANAGERS: HOST KIND DIR per manager host, as the managers stage reads it."""
    return "\n".join(
        f"{h.name} {h.manager.kind} {host_dir(h.name)}" for h in lab.hosts if h.manager is not None
    )


def put_manager_files(runner: Runner, lab: Lab) -> None:
    """Each manager host's inputs, onto the target (a remote one has none of them): the
    user's folder in DIR/user (its name in DIR/folder), ufw's commands in DIR/commands (one
    word a line, a blank line after each command: no shell ever reads them)."""
    for h in managed(lab):
        assert h.manager is not None
        where = host_dir(h.name)
        runner.run(["mkdir", "-p", f"{where}/user"], check=True)
        if h.manager.folder is not None:
            # its name as the user reads it, for the stage's words on a folder ufw refuses
            runner.put(f"{where}/folder", f"{shown(h.manager.folder)}\n".encode())
            for path in sorted(h.manager.folder.rglob("*")):
                if path.is_file():
                    rel = path.relative_to(h.manager.folder).as_posix()
                    if "/" in rel:
                        runner.run(["mkdir", "-p", f"{where}/user/{rel.rsplit('/', 1)[0]}"], check=True)
                    runner.put(f"{where}/user/{rel}", path.read_bytes(), path.stat().st_mode & 0o777)
        words = "".join("".join(f"{w}\n" for w in argv) + "\n" for argv in h.manager.commands)
        runner.put(f"{where}/commands", words.encode())
