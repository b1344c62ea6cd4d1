"""A lab host's own commands in a scenario (`When web runs "ufw deny 8080/tcp"`, `When gw
runs "firewall-cmd --reload"`): any command, in the host's namespaces; on a manager's host
with its configuration, bus and sockets (nslab.managers.common). A manager's command on a
host that does not run that manager is refused before it runs, naming the hosts that do.

>>> words('ufw allow from 198.51.100.0/24 to any port 443 proto tcp')[:2]
['ufw', 'allow']
"""

from __future__ import annotations

import shlex
from dataclasses import replace

from nslab.commands import Result
from nslab.errors import LabError
from nslab.managers.common import command_owner, host_argv
from nslab.scenario.session import LabSession


def words(command: str) -> list[str]:
    """The command as its argv (quoted as a shell would take it; never run by a shell)."""
    try:
        argv = shlex.split(command)
    except ValueError as exc:
        raise LabError(f"{command!r}: {exc}", "close the quote") from None
    if not argv:
        raise LabError("an empty command", 'name one: When web runs "ufw status"')
    return argv


def run_on(session: LabSession, host_name: str, command: str, timeout: float = 120.0) -> Result:
    """Run `command` on the lab host `host_name`; the result becomes the scenario's last
    (the output steps read it), shown as the user wrote it."""
    lab = session.lab
    host = lab.namespace(host_name)  # unknown: one line listing the hosts
    argv = words(command)
    command_owner(lab, host.name, argv)
    # One stream, as a terminal shows it (as `I run on the host` does).
    raw = session.w.run(
        ["sh", "-c", 'exec 2>&1; exec "$@"', "sh", *host_argv(lab, host, argv)], timeout=timeout
    )
    session.record.result = replace(raw, command=f"{host_name}$ {command}")
    return session.record.result
