"""A ruleset checker's complaint becomes a Problem whose fix says where to look: "at that
line" only where the complaint names one (nslab.firewall.kind.Kind.problem; pure)."""

from __future__ import annotations

from pathlib import Path

from nslab.firewall import KINDS


def test_the_fix_points_at_a_line_only_where_there_is_one() -> None:
    nft, ipt, script = KINDS["nft"], KINDS["iptables"], KINDS["script"]
    at = nft.problem("r.nft:7:5-9: Error: syntax error, unexpected junk", "", Path("r.nft"), None)
    assert (at.line, at.fix) == (7, "fix the rule on that line")
    nowhere = nft.problem("Error: Could not process rule: No such file or directory", "", Path("r.nft"), None)
    assert (
        nowhere.line is None and nowhere.fix == "nft named no line: `nft -c -f r.nft` shows its whole message"
    )
    gone = ipt.problem(
        "iptables-restore: unable to initialize table 'filter'", "*filter\nCOMMIT\n", Path("r.rules"), None
    )
    assert gone.line is None and "iptables-restore --test r.rules" in gone.fix
    said = script.problem("something went wrong", "", Path("fw.sh"), None)
    assert said.line is None and said.fix == "fix the script where the checker says"
