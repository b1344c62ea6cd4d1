"""How nslab reaches an ssh target: address, user, key, host key policy; or a Host of an
OpenSSH config file (vagrant ssh-config's)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import paramiko

from nslab.errors import TargetError

HOST_KEY_POLICIES = ("strict", "accept-new", "insecure")


@dataclass(frozen=True)
class SshOptions:
    """How to reach the machine. `host_key`: strict (default) rejects unknown keys,
    accept-new records them in known_hosts, insecure accepts without recording (for
    disposable VMs); a changed key is always an error."""

    host: str
    port: int = 22
    user: str = "root"
    key: str | None = None
    known_hosts: str | None = None
    host_key: str = "strict"
    connect_timeout: float = 10.0

    @property
    def where(self) -> str:
        return f"{self.user}@{self.host}:{self.port}"

    @classmethod
    def from_ssh_config(cls, path: str, alias: str, **overrides: Any) -> SshOptions:
        """From an OpenSSH config file, e.g. what `vagrant ssh-config` prints."""
        try:
            config = paramiko.SSHConfig.from_path(path)
        except OSError as exc:
            raise TargetError(f"cannot read ssh config {path}: {exc.strerror}", "check the path") from None
        if alias not in config.get_hostnames():
            raise TargetError(
                f"ssh config {path} has no 'Host {alias}' block",
                "use one of: " + ", ".join(sorted(h for h in config.get_hostnames() if h != "*")),
            )
        entry = config.lookup(alias)
        checking = str(entry.get("stricthostkeychecking", "yes")).lower()
        known = entry.get("userknownhostsfile")
        values: dict[str, Any] = {
            "host": entry.get("hostname", alias),
            "port": int(entry.get("port", 22)),
            "user": entry.get("user", "root"),
            "key": (entry.get("identityfile") or [None])[0],
            "known_hosts": None if known in (None, "/dev/null") else known.split()[0],
            "host_key": "insecure"
            if checking == "no"
            else "accept-new"
            if checking == "accept-new"
            else "strict",
        }
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)
