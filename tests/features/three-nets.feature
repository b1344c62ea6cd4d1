# A user's own lab (tests/labs/three-nets.toml), two routers deep, both families.
#
#   h1 ---- a ---- r1 ---- b ---- r2 (nft: telnet dropped) ---- c ---- h3
@lab:three-nets
Feature: Three networks and two routers, from a lab file of the user's
  Background:
    Given the lab is fully provisioned
    And h3 listens on tcp ports 22, 23

  Scenario: h1 reaches h3 through both routers, over IPv4 and IPv6
    When h1 pings h3
    Then 0% of packets are lost
    When h1 pings h3 over IPv6
    Then 0% of packets are lost
    And the replies come from h3 over IPv6

  Scenario: r2's own ruleset decides
    Then the reachability matrix holds
      | from | to | service   | expect   |
      | h1   | h3 | tcp/22    | accepted |
      | h1   | h3 | tcp/23    | dropped  |
      | h1   | h3 | tcp/22 v6 | accepted |
      | h1   | h3 | tcp/23 v6 | dropped  |
    When h1 connects to h3 on tcp port 23 over IPv6
    Then the connection is dropped
    And the verdict was decided by "r2: dropped by forward rule 1 (tcp dport 23 drop) in table inet r2"
