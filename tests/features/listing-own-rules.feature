# A failing scenario on a lab whose ruleset nslab counts (rule coverage adds rules of its
# own, `comment "nslab-..."`, to the world's copy): no listing the user reads shows them
# (tests/netns/test_messages.py).
#
#   a ---- br-nd ---- b (nft input: ND, tcp 80, tcp 443, no counters)
@lab:ndcov
Feature: nslab's own counting rules are in no listing
  Scenario: b's ruleset read back, and a failure's diagnostics
    Given the lab is fully provisioned
    When a pings b over IPv6
    Then b's ruleset shows "tcp dport 443 accept"
    And b's ruleset shows "a line that is not there"
