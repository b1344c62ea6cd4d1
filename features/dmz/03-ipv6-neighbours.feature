# The Ubuntu 24.04 trap (containerlab #2389): with bridged frames through ip6tables, an
# ip6 filter FORWARD policy of DROP on the host also drops the neighbour discovery that
# crosses its bridges. The networks stage accepts it first; without that, IPv6 dies.
#
#   pc 2001:db8:1::10 ---- br-lan (the host: ip6 FORWARD policy DROP) ---- edge 2001:db8:1::1
@lab:dmz
Feature: IPv6 neighbour discovery across a filtering bridge
  Background:
    Given the lab
    And I run on the host
      """
      ip6tables -P FORWARD DROP
      ip6tables -A FORWARD -p ipv6-icmp --icmpv6-type echo-request -j ACCEPT
      ip6tables -A FORWARD -p ipv6-icmp --icmpv6-type echo-reply -j ACCEPT
      """

  Scenario: the stage's neighbour rules keep IPv6 alive under a DROP policy
    When pc pings edge over IPv6
    Then 0% of packets are lost

  Scenario: without them, the DROP policy eats neighbour discovery
    When I run on the host
      """
      ip6tables -D FORWARD -p ipv6-icmp -m icmp6 --icmpv6-type neighbour-solicitation -j ACCEPT
      ip6tables -D FORWARD -p ipv6-icmp -m icmp6 --icmpv6-type neighbour-advertisement -j ACCEPT
      """
    And pc pings edge over IPv6
    Then 100% of packets are lost
    And the verdict was decided by "FORWARD policy DROP in table ip6 filter"
