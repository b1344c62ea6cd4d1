"""The programs nslab runs on a target: the package that brings one missing (its row in
nslab.needs), the tool an error output says is missing."""

from __future__ import annotations

import re

from nslab import needs

_NOT_FOUND = (
    re.compile(r"(?:^|\s)([\w.+-]+): (?:command )?not found"),
    re.compile(r"failed to execute ([\w.+-]+): No such file"),
    re.compile(r"exec: ([\w.+-]+): not found"),
)


def install_hint(tool: str) -> str:
    need = needs.tool(tool)
    return need.fix if need is not None else f"apt-get install {tool}"


def missing_from(text: str) -> str | None:
    """The tool a command's error output says is missing, if it says so."""
    for pattern in _NOT_FOUND:
        m = pattern.search(text)
        if m:
            return m.group(1)
    return None
