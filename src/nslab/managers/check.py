"""`nslab validate`'s look at a lab's managers: firewalld folders by firewalld's own
check (below), and ufw commands: each one given to ufw's own parser
(ufw.frontend.parse_command, what /usr/sbin/ufw runs first), in ufw's own interpreter.
The parser reads no file and changes nothing (no rules, no /etc/ufw), so no world is
needed; a command it refuses is one line naming the host, the command and ufw's words.
Before, validate said "ok" to `deny 99999/tcp` and only the build failed, among the
stages' output."""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

from nslab.commands import Runner
from nslab.errors import LabError
from nslab.lab import Host

# ufw's own parser, one python for every command of the lab (a python start is ~0.4 s on a
# loaded machine), read by validate and mutate (its words on a command it refuses) and by
# rule coverage (the rule it makes: the fields of the `### tuple ###` line
# backend_iptables writes for it, or its default; {}: no rule, `logging on`). ufw's error()
# prints "ERROR: ..." and exits; its parser raises ValueError on some input ("frobnicate":
# ufw itself then prints "ERROR: Invalid syntax").
PARSE = r"""
import contextlib, gettext, io, json, sys
import ufw.common, ufw.frontend
gettext.install(ufw.common.programName)
out = []
for argv in json.load(sys.stdin):
    err, out_ = io.TextIOWrapper(io.BytesIO()), io.TextIOWrapper(io.BytesIO())  # ufw writes bytes
    try:
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(out_):
            pr = ufw.frontend.parse_command(["ufw", *argv])
    except BaseException as exc:
        err.flush()
        text = err.buffer.getvalue().decode(errors="replace")
        said = [l[7:] for l in text.splitlines() if l.startswith("ERROR: ")]
        out.append({"error": said[-1] if said else (str(exc) or "Invalid syntax")})
        continue
    r = pr.data.get("rule")
    if pr.action.startswith("default-"):
        out.append({"default": pr.action.split("-")[1:]})
    elif r is None or pr.action not in ("allow", "deny", "reject", "limit"):
        out.append({})
    else:
        action = ("route:" if r.forward else "") + r.action + ("_" + r.logtype if r.logtype else "")
        if r.interface_in and r.interface_out:
            ifaces = "in_%s!out_%s" % (r.interface_in, r.interface_out)
        elif r.interface_in or r.interface_out:
            ifaces = "%s_%s" % (r.direction, r.interface_in or r.interface_out)
        else:
            ifaces = r.direction
        out.append({"tuple": [action, r.protocol, r.dport, r.dst, r.sport, r.src,
                              r.dapp.replace(" ", "%20") or "-", r.sapp.replace(" ", "%20") or "-", ifaces]})
print(json.dumps(out))
"""
Parsed = dict[str, Any]  # {"error": words} | {"tuple": fields} | {"default": [policy, direction]} | {}


def interpreter() -> str | None:
    """The python ufw runs under (its script's #! line), or None where ufw is not installed."""
    ufw = shutil.which("ufw")
    if ufw is None:
        return None
    try:
        with open(ufw, encoding="utf-8", errors="replace") as f:
            first = f.readline()
    except OSError:
        return None
    return first[2:].split()[0] if first.startswith("#!") and first[2:].split() else None


def ufw_parse(
    argvs: Sequence[Sequence[str]], runner: Runner | None = None, timeout: int = 60
) -> list[Parsed] | str:
    """ufw's parser's answer on each argv (see PARSE), all in one python: here, or run by
    `runner` (a world); or why the parser did not run (ufw not installed, its python failed)."""
    python = interpreter()
    if python is None:
        return "ufw is not installed: apt-get install ufw"
    argv, given = [python, "-c", PARSE], json.dumps([list(a) for a in argvs])
    if runner is not None:
        r = runner.run(argv, stdin=given, timeout=timeout)
        rc, out, err = r.rc, r.stdout, r.stderr
    else:
        done = subprocess.run(argv, input=given, capture_output=True, text=True, timeout=timeout)
        rc, out, err = done.returncode, done.stdout, done.stderr
    try:
        said = json.loads(out)
    except ValueError:
        said = None
    if rc != 0 or not isinstance(said, list) or len(said) != len(argvs):
        last = (err.strip().splitlines() or ["no output"])[-1]
        return f"ufw's parser did not run: {last}"
    return said


def check_ufw(hosts: Sequence[Host], path: str, world: object) -> str:
    """What validate says it checked of the ufw hosts' commands ("" where there are none);
    raises LabError on the first command ufw's parser refuses. No world: the parser changes
    nothing."""
    pairs = [(h.name, list(c)) for h in hosts if h.manager is not None for c in h.manager.commands]
    if not pairs:
        return ""
    names = ", ".join(dict.fromkeys(host for host, _ in pairs))
    said = ufw_parse([argv for _, argv in pairs])
    if isinstance(said, str):
        return f"; ufw commands of {names} not checked ({said})"
    for (host, argv), answer in zip(pairs, said, strict=True):
        if (words := answer.get("error")) is not None:
            raise LabError(
                f"{path}: host {host}: ufw command '{shlex.join(argv)}' is refused by ufw: {words}",
                f"correct it in host {host}'s firewall = {{ ufw = [...] }} (see `man ufw`)",
            )
    return f"; ufw commands of {names} checked by ufw's parser"


# firewalld's own check of a configuration (firewalld 1.3: firewall-offline-cmd
# --check-config), on a scratch copy laid out as 56-managers.sh lays it: the package's
# firewalld.conf and lockdown whitelist, the lab's folder over them. It prints
# "Configuration error: INVALID_PORT: port number in '99999' is too big" and exits non-zero
# (measured: 101, 102, 112) where the daemon would log an ERROR and fall back to its stock
# zones. Run in a throwaway world: a manager's tool never runs in the machine's namespaces.
CONF_KEYS = (
    "DefaultZone=public CleanupOnExit=yes CleanupModulesOnExit=no Lockdown=no IPv6_rpfilter=yes "
    "IndividualCalls=no LogDenied=off FirewallBackend=nftables FlushAllOnReload=yes RFC3964_IPv4=yes"
)
SUBDIRS = ("helpers", "icmptypes", "ipsets", "policies", "services", "zones")


def _scratch_etc(folder: Path, etc: Path) -> None:
    for sub in SUBDIRS:
        (etc / sub).mkdir(parents=True, exist_ok=True)
    conf = Path("/etc/firewalld/firewalld.conf")
    if os.access(conf, os.R_OK):
        for name in ("firewalld.conf", "lockdown-whitelist.xml"):
            if (conf.parent / name).is_file():
                shutil.copy(conf.parent / name, etc / name)
    else:  # the values Debian's firewalld.conf sets (56-managers.sh does the same)
        (etc / "firewalld.conf").write_text("\n".join(CONF_KEYS.split()) + "\n")
    shutil.copytree(folder, etc, dirs_exist_ok=True)


def check_firewalld(
    hosts: Sequence[Host], path: str, world: Callable[[], AbstractContextManager[Runner]]
) -> str:
    """What validate says it checked of the firewalld hosts' folders ("" where there are
    none); raises LabError on the first folder firewalld refuses. `world`: a throwaway
    world to run firewalld's check in."""
    folders = [(h.name, h.manager.folder) for h in hosts if h.manager is not None and h.manager.folder]
    if not folders:
        return ""
    names = ", ".join(name for name, _ in folders)
    if shutil.which("firewall-offline-cmd") is None:
        return f"; firewalld folders of {names} not checked (apt-get install firewalld)"
    if os.geteuid() != 0:
        return f"; firewalld folders of {names} not checked (not root: as root, checked by firewalld)"
    with tempfile.TemporaryDirectory(prefix="nslab-firewalld-") as tmp, world() as scratch:
        for name, folder in folders:
            etc = Path(tmp) / name
            _scratch_etc(folder, etc)
            r = scratch.run(
                ["firewall-offline-cmd", "--system-config", str(etc), "--check-config"], timeout=60
            )
            if r.rc != 0:
                said = [ln for ln in (r.stderr + r.stdout).splitlines() if ln.strip()]
                words = next((ln for ln in said if ln.startswith("Configuration error: ")), None)
                words = (words or (said[0] if said else f"exit {r.rc}")).removeprefix("Configuration error: ")
                raise LabError(
                    f"{path}: host {name}: firewalld refuses its folder {folder.name}: {words}",
                    f"correct the files in {folder.name} (firewall-offline-cmd --check-config says so too)",
                )
    return f"; firewalld folders of {names} checked by firewalld"
