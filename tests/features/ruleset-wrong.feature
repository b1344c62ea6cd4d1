# A ruleset line that is not there, on purpose: the failure names the place and shows the
# rules it has (tests/netns/test_point_to_point.py checks the message).
#
#   h1 ---- a ---- r1 ---- b ---- r2 (nft: counter telnet_drops) ---- c ---- h3
@lab:counters
Feature: A ruleset line that is not there
  Scenario: the line is there
    Given the lab is fully provisioned
    Then r2's ruleset shows "tcp dport 22 counter accept"

  Scenario: the line is not there
    Given the lab is fully provisioned
    Then r2's ruleset shows "tcp dport 24 counter drop"
