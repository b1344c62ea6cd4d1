# testinfra's host checks in nslab's words: addresses, routes, sysctls and a listening
# service, read from the hosts themselves (tests/labs/p2p.toml).
#
#   h1 ---- a ---- r1 ==/31, /127== r2 ---- b ---- h2
@lab:p2p
Feature: Each host is configured as the lab file says
  Scenario: addresses, routes, forwarding and a listening service
    Given the lab is fully provisioned
    And h2 listens on tcp port 22
    Then r1 is at 10.51.1.1
    And r1's routes include "10.51.2.0/24 via 10.51.0.1 dev eth1"
    And r1's routes include "2001:db8:51:2::/64 via 2001:db8:51::1 dev eth1"
    And h1 has a default route
    And net.ipv4.ip_forward is 1 on r1
    And net.ipv4.ip_forward is 0 on h1
    And net.ipv4.conf.all.rp_filter is 1 on r1
    And h2 is listening on tcp port 22
