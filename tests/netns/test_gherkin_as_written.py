"""Gherkin as people write it: the colon before a table or docstring, misspelt steps
answered with the closest phrasings, a bad matrix named row by row."""

from __future__ import annotations

from pathlib import Path

from conftest import HERE_FEATURES, needs_netns, run_feature

from nslab.behave.suggest import closest, distance, readable


@needs_netns
def test_table_and_docstring_steps_take_a_trailing_colon(tmp_path: Path) -> None:
    r = run_feature(HERE_FEATURES / "gherkin-colons.feature", tmp_path)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-1000:]
    assert "1 scenario passed, 0 failed" in r.stdout


@needs_netns
def test_misspelt_steps_get_did_you_mean_and_a_bad_matrix_names_every_row(tmp_path: Path) -> None:
    r = run_feature(HERE_FEATURES / "misspelt.feature", tmp_path)
    assert r.returncode == 1
    said = [line for line in r.stderr.splitlines() if "did you mean" in line]
    assert said == [
        "nslab: undefined step 'When red ping blue' (tests/features/misspelt.feature:8): "
        "did you mean: When {src} pings {dest}",
        "nslab: undefined step 'Then 100% of packet are lost' (tests/features/misspelt.feature:9): "
        "did you mean: Then {pct:d}% of packets are lost",
    ], r.stderr[-2000:]
    out = r.stdout
    assert "2 matrix rows are wrong:" in out, out[-3000:]
    assert "row 1 (red | blue | tcp/80 | acepted): 'acepted' is not an outcome of tcp" in out
    assert "did you mean accepted?" in out
    assert "row 3 (red | blue | udp/99999 | answered)" in out
    assert "row 2 (" not in out  # the good row is not named


def test_closest_phrasings_weigh_the_phrasings_own_words() -> None:
    assert distance("red pings blue", "{src} pings {dest}") == 0
    assert closest("the conection is accepted", ["the connection is accepted", "{a} pings {b}"]) == [
        "the connection is accepted"
    ]
    assert closest("something else entirely", ["{a} pings {b}", "the connection is accepted"]) == []
    assert readable(r"(?P<name>.+?) listens on (?P<proto>tcp|udp) ports (?P<ports>\S+(?:, ?\S+)*)") == (
        "{name} listens on {proto} ports {ports}"
    )
