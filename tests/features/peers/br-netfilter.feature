# br_netfilter.sh's point (a kernel netfilter selftest) in nslab's words: with bridge
# netfilter on, frames crossing a bridge meet the host's FORWARD chain; off, they do not.
#
#   red 10.16.0.2 -- br0 (host: FORWARD policy DROP) -- blue 10.16.0.3
Feature: Bridged frames and the host's FORWARD chain
  Background:
    Given the seed lab
    And the FORWARD policy is DROP

  Scenario: bridge netfilter on: the FORWARD policy drops bridged frames
    Given bridge traffic passes through iptables
    When red pings blue
    Then 100% of packets are lost
    And the verdict was decided by "dropped by FORWARD policy DROP"

  Scenario: bridge netfilter off: bridged frames never meet FORWARD
    Given bridge traffic bypasses iptables
    When red pings blue
    Then 0% of packets are lost
    And no firewall rule decided the verdict
