"""`nslab validate`'s look at a lab's ufw commands: each one given to ufw's own parser
(ufw.frontend.parse_command, what /usr/sbin/ufw runs first), in ufw's own interpreter.
The parser reads no file and changes nothing (no rules, no /etc/ufw), so no world is
needed; a command it refuses is one line naming the host, the command and ufw's words.
Before, validate said "ok" to `deny 99999/tcp` and only the build failed, among the
stages' output."""

from __future__ import annotations

import json
import shlex
import shutil
import subprocess

from nslab.errors import LabError
from nslab.lab import Lab

# One python for every command of the lab (a python start is ~0.4 s on a loaded machine).
# ufw's error() prints "ERROR: ..." and exits; its parser raises ValueError on some input
# ("frobnicate": ufw itself then prints "ERROR: Invalid syntax").
PARSE = r"""
import contextlib, gettext, io, json, sys
import ufw.common, ufw.frontend
gettext.install(ufw.common.programName)
out = []
for argv in json.load(sys.stdin):
    err, out_ = io.TextIOWrapper(io.BytesIO()), io.TextIOWrapper(io.BytesIO())  # ufw writes bytes
    try:
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(out_):
            ufw.frontend.parse_command(["ufw", *argv])
        out.append(None)
    except BaseException as exc:
        err.flush()
        text = err.buffer.getvalue().decode(errors="replace")
        said = [l[7:] for l in text.splitlines() if l.startswith("ERROR: ")]
        out.append(said[-1] if said else (str(exc) or "Invalid syntax"))
print(json.dumps(out))
"""


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


def check_ufw(lab: Lab, path: str) -> str:
    """What validate says it checked of the lab's ufw commands ("" where there are none);
    raises LabError on the first command ufw's parser refuses."""
    pairs = [
        (h.name, list(c))
        for h in lab.hosts
        if h.manager is not None and h.manager.kind == "ufw"
        for c in h.manager.commands
    ]
    if not pairs:
        return ""
    names = ", ".join(dict.fromkeys(host for host, _ in pairs))
    python = interpreter()
    if python is None:
        return f"; ufw commands of {names} not checked (ufw is not installed: apt-get install ufw)"
    argvs = [argv for _, argv in pairs]
    r = subprocess.run(
        [python, "-c", PARSE], input=json.dumps(argvs), capture_output=True, text=True, timeout=60
    )
    try:
        said = json.loads(r.stdout)
    except ValueError:
        said = None
    if r.returncode != 0 or not isinstance(said, list) or len(said) != len(argvs):
        last = (r.stderr.strip().splitlines() or ["no output"])[-1]
        return f"; ufw commands of {names} not checked (ufw's parser did not run: {last})"
    for (host, argv), words in zip(pairs, said, strict=True):
        if words is not None:
            raise LabError(
                f"{path}: host {host}: ufw command '{shlex.join(argv)}' is refused by ufw: {words}",
                f"correct it in host {host}'s firewall = {{ ufw = [...] }} (see `man ufw`)",
            )
    return f"; ufw commands of {names} checked by ufw's parser"
