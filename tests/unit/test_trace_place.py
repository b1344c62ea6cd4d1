"""What the trace reads of a firewall place before it starts (nslab.probe.trace.Tracer._place):
each listing once, on a fake world answering with real captures (tests/data)."""

from __future__ import annotations

from collections.abc import Sequence

from conftest import DATA

from nslab.commands import Result
from nslab.probe.trace import Tracer

NATIVE = (DATA / "nft-j-list-ruleset-native.json").read_text()
SAVED = (DATA / "iptables-save-c-nft.txt").read_text()


class FakeWorld:
    """Answers nft's and iptables' listings with real captures; keeps what it was asked."""

    provision_dir = "/nonexistent"

    def __init__(self) -> None:
        self.asked: list[tuple[str | None, tuple[str, ...]]] = []

    def run(self, cmd: Sequence[str], *, ns: str | None = None, **_: object) -> Result:
        self.asked.append((ns, tuple(cmd)))
        out = NATIVE if list(cmd) == ["nft", "-j", "list", "ruleset"] else SAVED
        return Result(" ".join(cmd), 0, out, "", 0.0)

    def put(self, path: str, data: bytes, mode: int = 0o644) -> None:
        raise AssertionError(path)


def _place(spec: str) -> tuple[FakeWorld, object]:
    world = FakeWorld()
    tracer = Tracer(world, lambda argv: None, [spec])  # type: ignore[arg-type,return-value]
    return world, tracer._place(spec)


def test_a_native_nft_place_is_listed_once() -> None:
    world, place = _place("fw:nft")
    # its snapshot is the very listing that numbers its rules: one process, not two
    assert world.asked == [("fw", ("nft", "-j", "list", "ruleset"))]
    assert place.positions  # type: ignore[attr-defined]  # the listing was read
    assert place.ruleset.chain("forward", "inet fw") is not None  # type: ignore[attr-defined]


def test_an_iptables_place_is_saved_and_listed_each_once() -> None:
    world, place = _place("host:iptables")
    assert sorted(cmd for _, cmd in world.asked) == [
        ("ip6tables-save", "-c"),
        ("iptables-save", "-c"),
        ("nft", "-j", "list", "ruleset"),
    ]
    assert place.ruleset.chain("FORWARD", "filter") is not None  # type: ignore[attr-defined]
