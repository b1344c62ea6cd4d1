# Interface MTU and packet size: r1's leg into b (and h2's) carries 1400 bytes at most.
#
#   h1 (1500) ---- a ---- r1 ---- b (mtu 1400) ---- h2
@lab:mtu
Feature: MTU and more addresses per interface, ping with a size or to a broadcast address
  Background:
    Given the lab is fully provisioned

  Scenario: what fits the smaller MTU passes, unfragmented
    When h1 pings h2 with 1372 bytes of data, not fragmented
    Then 0% of packets are lost

  Scenario: what is too big for the smaller MTU is answered by the router, not delivered
    When h1 pings h2 with 1472 bytes of data, not fragmented
    Then 100% of packets are lost

  Scenario: too big for the sender's own MTU never leaves
    When h2 pings r1 with 1472 bytes of data, not fragmented
    Then 100% of packets are lost

  Scenario: fragmented, the big packets pass
    When h1 pings h2 with 1472 bytes of data
    Then 0% of packets are lost

  Scenario: a broadcast ping on b is answered by the host that answers broadcasts
    When r1 pings 10.61.2.255 as a broadcast
    Then 0% of packets are lost
    And the replies come from h2

  Scenario: h1's second address answers too
    When r1 pings 10.61.1.11
    Then 0% of packets are lost
    And the replies come from 10.61.1.11
