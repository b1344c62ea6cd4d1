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


@needs_netns
def test_a_reject_whose_error_cannot_route_back_says_so(tmp_path: Path) -> None:
    """r2 rejects telnet but has no route back to h1: the probe sees a drop, and the
    why-line says why instead of leaving the reader to guess."""
    r = run_feature(HERE_FEATURES / "unrouted-reject.feature", tmp_path)
    # the connection and the matrix row fail on purpose; the ping says why it was lost
    assert "1 scenario passed, 2 failed" in r.stdout, r.stdout[-3000:]
    assert "| 1   | h1   | h3 | tcp/23  | rejected | dropped | r2: rejected by forward rule 1" in r.stdout
    note = "r2 rejected it, but the error could not reach h1: r2 has no route to 10.31.1.10"
    assert r.stdout.count(note) >= 2
    assert 'expected rejected with "admin-prohibited", got dropped' in r.stdout
    assert "r2 rejected it, but the error could not reach h1: r2 has no route to 10.31.1.10" in r.stdout
