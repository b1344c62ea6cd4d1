# The seed story (docs/seed-story.md), section 2: bridged frames through iptables, FORWARD policy DROP.
#
#   red 10.16.0.2 -- br0 -- blue 10.16.0.3
#                    |
#          bridge-nf-call-iptables=1: every bridged frame meets the FORWARD chain
#
Feature: Bridged traffic meets the FORWARD chain
  With bridge-nf-call-iptables=1, frames crossing br0 go through iptables, so a
  FORWARD policy of DROP cuts red off from blue even though they share a bridge.

  Background:
    Given the seed lab
    And bridge traffic passes through iptables

  Scenario: bridge netfilter and IPv4 forwarding are on
    Then net.bridge.bridge-nf-call-iptables is 1 on the host
    And net.ipv4.ip_forward is 1 on the host

  Scenario: FORWARD policy DROP: 3 packets transmitted, 0 received
    Given the FORWARD policy is DROP
    When red pings blue
    Then the ping reports "3 packets transmitted, 0 received, 100% packet loss"
    And 100% of packets are lost
    And the FORWARD policy dropped at least 3 packets
    And the verdict was decided by "dropped by FORWARD policy DROP (+3 packets)"

  Scenario: iptables -L shows the policy
    Given the FORWARD policy is DROP
    Then iptables shows "Chain FORWARD (policy DROP)"

  Scenario: without bridge netfilter the FORWARD policy does not see bridged frames
    Given the FORWARD policy is DROP
    And bridge traffic bypasses iptables
    When red pings blue
    Then 0% of packets are lost
    And no firewall rule decided the verdict
