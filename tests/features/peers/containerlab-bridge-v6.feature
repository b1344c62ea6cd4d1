# containerlab #2389's point (from netlab #1669: "IPv6 is not working over multi-access
# clab links"): with bridge netfilter on and the host's IPv6 FORWARD policy DROP, frames
# between nodes on one bridge meet the host's ip6tables FORWARD chain; a rule that accepts
# the bridge's traffic for IPv4 only leaves IPv6 dropped, neighbour discovery aside.
#
#   x1, x2, x3 ---- br-clab (host: FORWARD -> CLAB, policy DROP, both families)
@lab:clab
Feature: Nodes on one bridge under the host's IPv6 FORWARD policy
  Background:
    Given the lab is fully provisioned
    And the FORWARD policy is DROP over IPv6

  Scenario: the host accepts the bridge for IPv4 only: IPv6 between the nodes is dropped
    When x1 pings x2
    Then 0% of packets are lost
    When x1 pings x2 over IPv6
    Then 100% of packets are lost
    And the verdict was decided by "dropped by FORWARD policy DROP in table ip6 filter"

  Scenario: the host accepts the bridge in both families: IPv6 passes too
    Given chain CLAB accepts traffic out of the bridge over IPv6
    When x1 pings x3 over IPv6
    Then 0% of packets are lost
    And the verdict was decided by "accepted by CLAB rule 1 (-o br-clab -j ACCEPT) in table ip6 filter"
