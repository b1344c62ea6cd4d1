# conntrack_icmp_related.sh in nslab's words (tests/labs/related.toml): "fragmentation
# needed" from a router with a small MTU is RELATED to the connection it is about, and
# accepted; the same error about a packet h1 never sent (h3 sent it in h1's name) is
# dropped by h1's firewall.
#
#   h1 (nft: related, unrelated) --+
#                                  a ---- r1 ---- b (mtu 1280) ---- h2
#   h3 ----------------------------+
@lab:related
Feature: An ICMP error RELATED to a connection, and one that is not
  Background:
    Given the lab is fully provisioned

  Scenario: fragmentation needed, about h1's own ping, is related and accepted
    When h1 pings h2 with 1400 bytes of data, not fragmented
    Then the ping reports "Frag needed and DF set (mtu = 1280)"
    And h1's counter related counted at least 1 packets

  Scenario: packet too big, about h1's own IPv6 ping, is related and accepted
    When h1 pings 2001:db8:70:2::10 with 1400 bytes of data, not fragmented
    Then the ping reports "Packet too big: mtu=1280"
    And h1's counter related counted at least 1 packets

  Scenario: fragmentation needed about a packet h1 never sent is dropped
    When h3 pings h2 with 1400 bytes of data, not fragmented, from 10.70.1.10
    Then h1's counter unrelated counted at least 1 packets
