# The seed story (docs/seed-story.md), section 4, first half: the bridge becomes the gateway.
#
#   red 10.16.0.2 -- br0 10.16.0.1 (gateway) -- uplink0 198.51.100.1 -- isp (the internet)
#   red: default via 10.16.0.1 dev veth1-red
#
Feature: The bridge as the lab's gateway
  Background:
    Given the lab is provisioned up to the firewall stage
    And the simulated internet

  Scenario: without a default route the internet is unreachable
    When red pings the internet
    Then the ping fails with "Network is unreachable"
    And red has no default route

  @seed-literal
  Scenario: the bridge gets the gateway address and red a default route
    When the bridge gets the gateway address
    And red gets a default route via the gateway
    Then red's routes are exactly
      """
      default via 10.16.0.1 dev veth1-red
      10.16.0.0/24 dev veth1-red proto kernel scope link src 10.16.0.2
      """

  Scenario: the gateway answers red: 2 received
    Given the bridge has the gateway address
    And red routes by default via the gateway
    When red pings the gateway 2 times
    Then 2 packets are transmitted and 2 received
    And the replies come from the gateway

  @seed-literal
  Scenario: the gateway stage puts -o br0 second in NAVY
    Given the gateway stage has run
    Then chain NAVY holds, in order
      | rule                                      |
      | -s 10.16.0.0/24 -d 10.16.0.0/24 -j ACCEPT |
      | -o br0 -j ACCEPT                          |
      | -j RETURN                                 |

  Scenario: -o br0 alone does not get red out: "does not work yet"
    Given the gateway stage has run
    When red pings the internet 2 times
    Then 100% of packets are lost
    And the internet saw no pings from red
    And the FORWARD policy dropped at least 2 packets
    And the verdict was decided by "FORWARD policy DROP"
