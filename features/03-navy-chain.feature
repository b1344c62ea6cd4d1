# The seed story (docs/seed-story.md), section 3: a custom chain, jumped to first, that accepts the lab subnet.
#
#   FORWARD (policy DROP)
#     1  -j NAVY ---> NAVY: 1 -s 10.16.0.0/24 -d 10.16.0.0/24 -j ACCEPT
#                           2 -j RETURN  (back to FORWARD, then the DROP policy)
#
# @seed-literal: these scenarios quote the seed's subnet and chain (10.16.0.0/24, NAVY);
# on another lab file (-D lab=...) they are skipped, saying so.
@seed-literal
Feature: The NAVY chain lets the lab subnet through
  Background:
    Given the seed lab
    And bridge traffic passes through iptables
    And the FORWARD policy is DROP

  Scenario: NAVY accepts the subnet: 0% packet loss
    Given chain NAVY accepts 10.16.0.0/24 to 10.16.0.0/24
    When red pings blue
    Then the ping reports "3 packets transmitted, 3 received, 0% packet loss"
    And chain NAVY accepted at least 3 packets from 10.16.0.0/24 to 10.16.0.0/24

  Scenario: the rules stand in the seed's order
    Given chain NAVY accepts 10.16.0.0/24 to 10.16.0.0/24
    Then chain NAVY holds, in order
      | rule                                      |
      | -s 10.16.0.0/24 -d 10.16.0.0/24 -j ACCEPT |
      | -j RETURN                                 |

  Scenario: removing the ACCEPT falls through RETURN to the DROP policy
    Given chain NAVY accepts 10.16.0.0/24 to 10.16.0.0/24
    When the rule accepting 10.16.0.0/24 to 10.16.0.0/24 is removed from chain NAVY
    And red pings blue
    Then 100% of packets are lost
    And the FORWARD policy dropped at least 3 packets
    And the verdict was decided by "FORWARD policy DROP"

  Scenario Outline: FORWARD policy <policy> with NAVY accepting <rule>
    Given the FORWARD policy is <policy>
    And chain NAVY accepts <rule>
    When red pings blue
    Then <loss>% of packets are lost
    And the verdict was decided by "<decided by>"

    # "decided by": the rule or policy whose counter grew while the ping ran and that
    # dropped (for a loss) or accepted (for replies) its packets. In the one-way rows NAVY
    # accepts one direction and the policy drops the other.
    Examples: policy x rules
      | policy | rule                         | loss | decided by                                       |
      | DROP   | nothing                      | 100  | FORWARD policy DROP                              |
      | DROP   | 10.16.0.0/24 to 10.16.0.0/24 | 0    | NAVY rule 1 (-s 10.16.0.0/24 -d 10.16.0.0/24 -j ACCEPT) |
      | DROP   | 10.16.0.2/32 to 10.16.0.3/32 | 100  | FORWARD policy DROP                              |
      | DROP   | 10.16.0.3/32 to 10.16.0.2/32 | 100  | FORWARD policy DROP                              |
      | DROP   | 10.99.0.0/24 to 10.99.0.0/24 | 100  | FORWARD policy DROP                              |
      | ACCEPT | nothing                      | 0    | FORWARD policy ACCEPT                            |
      | ACCEPT | 10.99.0.0/24 to 10.99.0.0/24 | 0    | FORWARD policy ACCEPT                            |
