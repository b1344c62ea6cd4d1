# The dmz lab's wiring, before any firewall: two networks routed by the edge router,
# dual-stack, and the internet behind the router.
#
#   pc 10.1.0.10 --- br-lan --- eth0 edge eth1 --- br-dmz --- web 10.2.0.10, db 10.2.0.20
#   2001:db8:1::10              (router)                      2001:db8:2::10, ::20
#                                  | uplink0 198.51.100.1, 2001:db8:f::1
#                                 isp (the internet) 203.0.113.10, 2001:db8:ff::10
@lab:dmz
Feature: The LAN and the DMZ are routed through the edge router
  Background:
    Given the lab

  Scenario: pc reaches the DMZ through edge, over IPv4 and IPv6
    When pc pings web
    Then 0% of packets are lost
    And the replies come from web
    When pc pings db over IPv6
    Then 0% of packets are lost
    And the replies come from db over IPv6

  Scenario: the hosts route by default via edge
    Then pc's routes are exactly
      """
      default via 10.1.0.1 dev eth0
      10.1.0.0/24 dev eth0 proto kernel scope link src 10.1.0.10
      """

  Scenario: a non-router does not forward: web cannot reach pc through db
    When I run on the host
      """
      ip -n web route replace 10.1.0.0/24 via 10.2.0.20
      """
    And web pings pc
    Then 100% of packets are lost
