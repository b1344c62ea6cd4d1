"""Words the kernel's own tests need: a /31 point-to-point transit (RFC 3021) between
routers, both addresses hosts (it was refused as "network or broadcast address"); output
lines matched whatever their padding."""

from __future__ import annotations

from pathlib import Path

from conftest import HERE_FEATURES, needs_netns, run_feature


@needs_netns
def test_routers_on_a_31_transit_route_across_it(tmp_path: Path) -> None:
    r = run_feature(HERE_FEATURES / "p2p.feature", tmp_path)
    assert r.returncode == 0 and "1 scenario passed, 0 failed" in r.stdout, r.stdout[-3000:]


@needs_netns
def test_the_output_shows_folds_blanks(tmp_path: Path) -> None:
    """`iptables -L` pads its columns: a docstring with single spaces still matches."""
    r = run_feature(HERE_FEATURES / "output-shows.feature", tmp_path)
    assert r.returncode == 0 and "1 scenario passed, 0 failed" in r.stdout, r.stdout[-3000:]
