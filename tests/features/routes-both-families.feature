# Routes in either family (tests/labs/three-nets.toml: r1 routes c through r2).
#
#   h1 ---- a ---- r1 ---- b ---- r2 ---- c ---- h3
@lab:three-nets
Feature: Route steps read the family of the route they name
  Scenario: r1's IPv4 and IPv6 routes to c
    Given the lab is fully provisioned
    Then r1's routes include "10.31.3.0/24 via 10.31.2.2 dev eth1"
    And r1's routes include "2001:db8:31:3::/64 via 2001:db8:31:2::2 dev eth1 metric 1024 pref medium"
