# Rule coverage and mutation on a lab of one's own (tests/labs/ndcov.toml): b's input
# chain has no counters, an ND rule no scenario's packet matches, a 443 rule no scenario
# reaches.
#
#   a 2001:db8:9::10 ---- br-nd ---- b 2001:db8:9::20 (nft input: ND, tcp 80/8080, tcp 443)
@lab:ndcov
Feature: b's web port, over IPv6
  Scenario: a reaches b's web port over IPv6
    Given the lab is fully provisioned
    And b listens on tcp port 80
    When a connects to b on tcp port 80 over IPv6
    Then the connection is accepted

  Scenario: b's ssh port is closed to a
    Given the lab is fully provisioned
    And b listens on tcp port 22
    When a connects to b on tcp port 22 over IPv6
    Then the connection is dropped
