# The lab's host's own ruleset and sysctls (tests/netns/test_steps_do_what_they_say.py), as br_netfilter.sh
# says them: a bridge-family nft ruleset on the bridging host.
#
#   h1 10.42.0.2 ---- br-lan (the lab's host: table bridge filter) ---- h2 10.42.0.3
@lab:bridge-host
Feature: The lab's host has a ruleset and sysctls of its own
  Scenario: the bridge family drops h1's pings to h2, not h2's to h1
    Given the lab is fully provisioned
    Then net.bridge.bridge-nf-call-iptables is 0 on the host
    And the host's ruleset shows "ip saddr 10.42.0.2 ip daddr 10.42.0.3 icmp type echo-request counter drop"
    When h1 pings h2
    Then 100% of packets are lost
    And the verdict was decided by "dropped by forward rule 1 (ip saddr 10.42.0.2 ip daddr 10.42.0.3 icmp type echo-request drop) in table bridge filter"
    When h2 pings h1
    Then 0% of packets are lost
