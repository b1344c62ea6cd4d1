"""Run settings, one place each: `[tool.nslab]` in pyproject.toml, then `-D key=value`.

>>> Settings.from_sources({"ping_wait": "0.3"}, pyproject=None).ping_wait
0.3
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from nslab.errors import NslabError
from nslab.lab import Lab, default_lab, load_lab

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib


@dataclass(frozen=True)
class Settings:
    """Everything a run can be told; defaults suit the local target and the seed lab."""

    target: str = "local"
    lab: str = ""
    ping_interval: float = 0.01
    # How long a probe waits for its answer before it is called lost. A real drop pays this
    # once, so it is short; but on a loaded runner (2 cores at load 9-16, measured) replies
    # came after 0.1 s / 0.25 s and accepted flows read "dropped" while their rule's counter
    # showed them accepted. Waiting longer, not asking twice: a second probe would be a
    # packet the scenario did not send (`counted exactly 1 packets` then read 2).
    ping_wait: float = 0.25
    probe_wait: float = 0.5  # seconds a TCP/UDP probe waits before "dropped" / "no answer"
    box: str = "bento/ubuntu-24.04"
    reports: str = "reports"
    html: str = "reports/index.html"
    # the host's files inside worlds: ro (default) or rw, for the rare lab that must write
    host_fs: str = "ro"
    # ssh target (or an OpenSSH config file with a Host block, as `vagrant ssh-config` prints)
    host: str = ""
    port: int = 22
    user: str = "root"
    key: str = ""
    known_hosts: str = ""
    host_key: str = "strict"
    ssh_config: str = ""
    # vagrant target: reuse | fresh; provider (libvirt, virtualbox); the Vagrantfile's folder
    vagrant: str = "reuse"
    vagrant_provider: str = ""
    vagrant_root: str = ""
    # rule coverage of the user's ruleset files (nslab.coverage.counts): on or off; a run below
    # rule_coverage_min percent fails (0: no minimum)
    rule_coverage: str = "on"
    rule_coverage_min: float = 0.0

    @classmethod
    def from_sources(cls, userdata: Mapping[str, str], pyproject: Path | None) -> Settings:
        """Defaults < [tool.nslab] < userdata; unknown keys in [tool.nslab] are errors."""
        values: dict[str, Any] = {}
        if pyproject is not None and pyproject.exists():
            tool = tomllib.loads(pyproject.read_text()).get("tool", {}).get("nslab", {})
            known = {f.name for f in fields(cls)}
            for key in tool:
                if key not in known:
                    raise NslabError(
                        f"{pyproject}: [tool.nslab] has unknown key '{key}'",
                        "valid keys: " + ", ".join(sorted(known)),
                    )
            values.update(tool)
        values.update({k: v for k, v in userdata.items() if k in {f.name for f in fields(cls)}})
        out = {}
        for f in fields(cls):
            if f.name not in values:
                continue
            raw = values[f.name]
            try:
                out[f.name] = {"float": float, "int": int}.get(str(f.type), str)(raw)
            except ValueError:
                raise NslabError(
                    f"setting {f.name}={raw!r} is not a number", f"e.g. -D {f.name}=0.2"
                ) from None
        settings = cls(**out)
        from nslab.machine.targets import BACKENDS  # the registry is the one list of targets
        from nslab.machine.world import HOST_FS  # what a world can show of the host's files

        if settings.target not in BACKENDS:
            raise NslabError(f"unknown target '{settings.target}'", "use one of: " + ", ".join(BACKENDS))
        if settings.host_fs not in HOST_FS:
            raise NslabError(
                f"host_fs={settings.host_fs!r} is neither ro nor rw",
                "use -D host_fs=ro (default) or -D host_fs=rw",
            )
        if settings.rule_coverage not in ("on", "off"):
            raise NslabError(
                f"rule_coverage={settings.rule_coverage!r} is neither on nor off",
                "use -D rule_coverage=on (default) or -D rule_coverage=off",
            )
        if not 0 <= settings.rule_coverage_min <= 100:
            raise NslabError(
                f"rule_coverage_min={settings.rule_coverage_min:g} is not a percentage",
                "use a number from 0 to 100, e.g. -D rule_coverage_min=80",
            )
        return settings

    def load_lab(self) -> Lab:
        return load_lab(self.lab) if self.lab else default_lab()


def find_pyproject(start: Path | None = None) -> Path | None:
    """The nearest pyproject.toml that has a [tool.nslab] table, walking up from `start`."""
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        candidate = folder / "pyproject.toml"
        if candidate.exists() and "[tool.nslab]" in candidate.read_text():
            return candidate
    return None
