# A /31 point-to-point transit between two routers (tests/labs/p2p.toml).
#
#   h1 ---- a ---- r1 ==/31== r2 ---- b ---- h2
@lab:p2p
Feature: Routers on a /31 transit
  Scenario: h1 reaches h2 across the /31
    Given the lab is fully provisioned
    When h1 pings h2
    Then 0% of packets are lost
    When r1 pings r2
    Then 0% of packets are lost
