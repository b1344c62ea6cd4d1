# NAT rules in "which rule decided": the seed's MASQUERADE names itself as the rule that
# translated the connection, beside the rules that accepted it.
#
#   red 10.16.0.2 ---- br0 (host: NAVY, MASQUERADE out of uplink0) ---- the internet 203.0.113.10
Feature: Which rule translated a connection
  Scenario: red's connection to the internet is masqueraded by the host
    Given the lab is fully provisioned
    And the internet listens on tcp port 80
    When red connects to the internet on tcp port 80
    Then the connection is accepted
    And the verdict was decided by "translated by POSTROUTING rule 1 (-s 10.16.0.0/24 ! -o br0 -j MASQUERADE) in table nat"
    And the internet saw a tcp connection from the uplink on port 80
