"""Outcomes and evidence the kernel has words for: `unreachable`, the outcome of a probe
that never left its namespace (no route), is an expectation for connections, datagrams and
matrix rows (it was `never left`, which no expectation matched); a NAT rule is evidence."""

from __future__ import annotations

from pathlib import Path

from conftest import HERE_FEATURES, needs_netns, run_feature


@needs_netns
def test_unreachable_is_expected_and_named(tmp_path: Path) -> None:
    r = run_feature(HERE_FEATURES / "unreachable.feature", tmp_path)
    out = r.stdout
    assert "1 scenario passed, 2 failed, 0 skipped" in out, out[-3000:]
    assert "expected accepted, got unreachable (Network is unreachable: it never left)" in out
    assert "expected unreachable, got refused" in out  # blue is there, only nothing listens


@needs_netns
def test_the_nat_rule_that_translated_is_named(tmp_path: Path) -> None:
    """A NAT rule (MASQUERADE, SNAT, DNAT, REDIRECT; iptables or nft) is evidence too:
    'translated by ...', beside the rules that accepted (it was never named)."""
    r = run_feature(HERE_FEATURES / "nat-evidence.feature", tmp_path)
    assert r.returncode == 0 and "1 scenario passed, 0 failed" in r.stdout, r.stdout[-3000:]
