"""The files an ssh or vagrant target needs, uploaded once (content-addressed): the
programs that run on the target (every one in nslab/ontarget/: agent.py, netprobe.py and
the parts netprobe imports from beside it) and the provision stages."""

from __future__ import annotations

import hashlib
from pathlib import Path

from nslab.ontarget import agent
from nslab.paths import stage_dir


def ontarget_files() -> dict[str, bytes]:
    """nslab/ontarget's programs and their parts, by name: each runs from the upload's
    directory beside the others (a part missing there: netprobe fails to start)."""
    here = Path(agent.__file__).parent
    programs = sorted(p for p in here.iterdir() if p.suffix in (".py", ".sh") and p.name != "__init__.py")
    return {p.name: p.read_bytes() for p in programs}


def bundle() -> tuple[str, dict[str, bytes]]:
    """The files a remote machine needs, and a hash of them (the upload's directory name)."""
    files = ontarget_files()
    for path in sorted(stage_dir().rglob("*")):  # provision/ and anything below it
        rel = path.relative_to(stage_dir())
        if path.is_file() and (path.suffix == ".sh" or path.name == "README.md") and rel.parts[0] != "box":
            files[f"provision/{rel}"] = path.read_bytes()
    digest = hashlib.sha256()
    for name, data in sorted(files.items()):
        digest.update(name.encode() + b"\0" + data + b"\0")
    return digest.hexdigest()[:16], files
