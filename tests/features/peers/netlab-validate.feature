# netlab validate's checks in nslab's words: who reaches whom across routers, both
# families, and one service the last router refuses (tests/labs/three-nets.toml).
#
#   h1 ---- a ---- r1 ---- b ---- r2 (nft: drop tcp/23) ---- c ---- h3
@lab:three-nets
Feature: End-to-end reachability across two routers
  Scenario: every pair that should reach each other does, and telnet does not
    Given the lab is fully provisioned
    And h3 listens on tcp ports 22, 23
    Then the reachability matrix holds:
      | from | to | service    | expect   |
      | h1   | h3 | icmp       | replies  |
      | h1   | h3 | icmp v6    | replies  |
      | h3   | h1 | icmp       | replies  |
      | h1   | r2 | icmp v6    | replies  |
      | h1   | h3 | tcp/22     | accepted |
      | h1   | h3 | tcp/22 v6  | accepted |
      | h1   | h3 | tcp/23     | dropped  |
      | h1   | h3 | tcp/23 v6  | dropped  |
