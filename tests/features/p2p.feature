# A point-to-point transit between two routers, a /31 and a /127 (tests/labs/p2p.toml).
#
#   h1 ---- a ---- r1 ==/31, /127== r2 ---- b ---- h2
@lab:p2p
Feature: Routers on a /31 and /127 transit
  Scenario: h1 reaches h2 across the /31
    Given the lab is fully provisioned
    When h1 pings h2
    Then 0% of packets are lost
    When r1 pings r2
    Then 0% of packets are lost

  Scenario: h1 reaches h2 across the /127
    Given the lab is fully provisioned
    When h1 pings h2 over IPv6
    Then 0% of packets are lost
    When r1 pings r2 over IPv6
    Then 0% of packets are lost
    And the replies come from 2001:db8:51::1

  Scenario: r1's own sysctls, set from the lab file once its interfaces exist
    Given the lab is fully provisioned
    Then net.ipv4.conf.all.rp_filter is 1 on r1
    And net.ipv4.conf.eth1.accept_redirects is 0 on r1
    And net.ipv4.conf.all.rp_filter is 0 on r2
    And net.ipv4.ip_forward is 1 on r2
