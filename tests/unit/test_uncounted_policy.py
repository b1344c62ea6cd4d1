"""nft keeps no counter for a chain's policy: a probe a native nft drop policy lost read "no
firewall rule or policy counted its packets", which says the firewall had no part in it.
Where the trace cannot be asked, the evidence says what the counters cannot tell, naming
the chains whose policy may have dropped it. Pure logic on real captured listings."""

from __future__ import annotations

from pathlib import Path

import pytest

from nslab.firewall.evidence import Decision, Evidence, uncounted_policies
from nslab.firewall.iptables_parse import iptables_save
from nslab.firewall.nft_parse import nft_json

pytestmark = pytest.mark.unit

DATA = Path(__file__).resolve().parents[1] / "data"


def test_a_native_nft_drop_policy_is_uncounted_and_an_iptables_one_is_not() -> None:
    native = nft_json((DATA / "nft-j-list-ruleset-native.json").read_text())
    # the nat chains' accept policies decide nothing: only the filter chain's drop is named
    assert uncounted_policies({"fw": native}) == ("fw: forward in table inet fw",)
    # iptables(-nft) counts its policies (`:FORWARD DROP [0:0]`): the counters can tell
    seed = iptables_save((DATA / "iptables-save-c-nft.txt").read_text())
    assert uncounted_policies({"host": seed}) == ()


def test_a_loss_nothing_counted_says_the_policy_may_have_dropped_it() -> None:
    found = Evidence(uncounted=("fw: forward in table inet fw",))
    said = found.summary(lost=True)
    assert "no firewall rule or policy counted" not in said
    assert said == (
        "no rule counted its packets; nft keeps no counter for a chain's policy, so nslab cannot "
        "say whether the drop policy of fw: forward in table inet fw dropped them"
    )
    # an answer owes nothing to a drop policy; a loss a rule counted is that rule's
    assert found.summary(lost=False) == "no firewall rule or policy counted its packets"
    rule = Decision("fw", "inet fw", "forward", 3, "DROP", "counter drop", 1, 3)
    assert Evidence((rule,), found.uncounted).summary(lost=True) == rule.describe()
    assert Evidence().summary(lost=True) == "no firewall rule or policy counted its packets"
