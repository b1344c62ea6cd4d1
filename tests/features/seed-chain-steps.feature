# The seed's chain steps do what they say (tests/netns/test_steps_do_what_they_say.py): `accepts nothing`
# leaves no ACCEPT in the chain (the firewall stage's included), the bridge's ACCEPT goes
# above the RETURN, and a rule may be removed in a Given.
@seed-literal
Feature: The seed chain's steps do what they say
  Background:
    Given the seed lab
    And bridge traffic passes through iptables
    And the FORWARD policy is DROP

  Scenario: the bridge's accept after "accepts nothing" is above the RETURN
    Given chain NAVY accepts nothing
    And chain NAVY accepts traffic out of the bridge
    When red pings blue
    Then 0% of packets are lost
    And chain NAVY holds, in order
      | rule             |
      | -o br0 -j ACCEPT |
      | -j RETURN        |

  Scenario: "accepts nothing" after the firewall stage takes the stage's accept away
    Given the firewall stage has run
    And chain NAVY accepts nothing
    When red pings blue
    Then 100% of packets are lost
    And the verdict was decided by "FORWARD policy DROP"
    And chain NAVY holds, in order
      | rule      |
      | -j RETURN |

  Scenario: a Given removes the stage's rule
    Given the firewall stage has run
    And the rule accepting 10.16.0.0/24 to 10.16.0.0/24 is removed from chain NAVY
    When red pings blue
    Then 100% of packets are lost
