"""A user's ruleset files: loaded for real in a throwaway world before anything is built,
and each problem named by the user's file and the line of the faulty rule, with a fix in
words ("unknown target `ACCCEPT`: did you mean ACCEPT?").

The tools alone do not say it well: iptables-restore (nf_tables backend) checks a jump
only when it commits, so a rule jumping to `ACCCEPT` on line 5 is reported at line 7,
the COMMIT; `iptables-restore --test` passes it. nft names the line but says `syntax
error, unexpected newline` for `rejct`. So an error at a COMMIT is traced back to its rule
(by the chain it names, else by loading ever longer prefixes of the table), and a line
with a near-miss of a known word says which word was meant.

Each kind's checks are its own (nslab.firewall.nft, nslab.firewall.iptables,
nslab.firewall.script: `Kind.problem`, `Kind.check_static`); this module runs them.

>>> close_word("rejct", NFT_WORDS)
'reject'
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from nslab.commands import Runner
from nslab.errors import LabError
from nslab.firewall import get_kind
from nslab.firewall.iptables import _bisect, iptables_problem
from nslab.firewall.kind import Placed, Problem, close_word
from nslab.firewall.nft import NFT_WORDS, nft_problem
from nslab.lab.model import Host, Lab

__all__ = [
    "NFT_WORDS",
    "Placed",
    "Problem",
    "_bisect",
    "check_file",
    "check_static",
    "close_word",
    "host_interfaces",
    "interface_names",
    "iptables_problem",
    "nft_problem",
    "placements",
    "problem",
    "raise_for",
    "with_included",
]


def problem(
    kind: str,
    text: str,
    content: str,
    path: Path,
    loads: Callable[[str], bool] | None,
    interfaces: Sequence[str] = (),
) -> Problem:
    """The checker's complaint as a Problem at the faulty rule, in the kind's own words."""
    return get_kind(kind).problem(text, content, path, loads, interfaces)


def check_file(
    runner: Runner,
    kind: str,
    path: Path,
    placed: str,
    interfaces: Sequence[str] = (),
    included: Sequence[Placed] = (),
) -> Problem | None:
    """Load one ruleset file in the runner (a throwaway world): None if it loads.
    `interfaces`: the host's (made in the runner, see host_interfaces); `included`: the
    files it includes as they were placed (an error in one is named by the user's file)."""
    check = get_kind(kind).check
    if not check:  # the kind gives no check: loading it (the rulesets stage) is the only one
        return None
    content = path.read_text()
    if check[-1] is None:
        tool = [str(a) for a in check[:-1]]
        result = runner.run(tool, stdin=content, timeout=30)

        def loads(text: str) -> bool:
            return runner.run(tool, stdin=text, timeout=30).ok

    else:
        result = runner.run([*(str(a) for a in check), placed], timeout=30)
        loads = None  # type: ignore[assignment]
    if result.ok:
        return None
    said = result.output
    for other in sorted(included, key=lambda f: -len(f.where)):  # HOST-nft.d/... before HOST-nft
        said = said.replace(other.where, str(other.path))
    said = said.replace(placed, str(path))
    first = next((x for x in said.splitlines() if "Error:" in x), "")
    inner = next((f.path for f in included if first.startswith(f"{f.path}:")), None)
    if inner is not None and inner != path:  # the faulty rule is in an included file
        path, content = inner, inner.read_text()
    return problem(kind, said, content, path, loads, interfaces)


def check_static(kind: str, path: Path) -> Problem | None:
    """Without root (no world to load it in): the near-misses a reader can see, line by line."""
    return get_kind(kind).check_static(path)


def placements(kind: str, path: Path, where: str) -> list[Placed]:
    """A ruleset file put at `where`, first, then every file it includes (nft's include,
    nslab.firewall.nft.placements); an include of a file that is not there is one LabError."""
    return get_kind(kind).placements(path, where)


def with_included(kind: str, path: Path) -> list[Path]:
    """A ruleset file, then every file it includes (nft), as placements() reads them."""
    return list(dict.fromkeys(f.path for f in placements(kind, path, "")))


def interface_names(lab: Lab, host: Host) -> list[str]:
    """A lab host's interfaces, as its rules may name them in iif/oif: its legs on the
    lab's networks and the uplink where the internet hangs off it."""
    names = [i.name for i in host.interfaces]
    return names + ([lab.upstream.uplink] if lab.upstream.via == host.name else [])


@contextmanager
def host_interfaces(runner: Runner, names: Sequence[str]) -> Iterator[None]:
    """Links named like a host's interfaces in the runner's namespace (a throwaway world's
    root) while its rulesets are checked: nft resolves `iif "eth0"` to an index when it
    loads, so a file naming the host's eth0 failed ("Interface does not exist") where
    `nslab up` loads it. Bridges, as a link of any name that needs no peer and no module
    (dummy may be missing from the kernel, measured on Debian 12's cloud kernel)."""
    made = [n for n in dict.fromkeys(names) if n != "lo"]
    if made:
        add = "".join(f"link add {n} type bridge\n" for n in made)
        runner.run(["ip", "-batch", "-"], stdin=add, check=True)
    try:
        yield
    finally:
        if made:
            runner.run(["ip", "-batch", "-"], stdin="".join(f"link del {n}\n" for n in made))


def raise_for(host: str, kind: str, found: Problem) -> None:
    who = host if host.startswith("the ") else f"host {host}"  # "the lab's host": the world's root
    raise LabError(f"{who}'s {kind} ruleset does not load: {found.words()}", found.fix)
