# The simulated internet's record of who pinged it, in both families (tests/labs/v6out.toml:
# a laptop behind a router that masquerades both families on its uplink).
#
#   laptop 10.40.0.10 / 2001:db8:40::10 ---- gw (router) ---- uplink0 198.51.100.1 / 2001:db8:f::1 ---- the internet
@lab:v6out
Feature: The internet's record of pings, IPv4 and IPv6
  Background:
    Given the lab is fully provisioned

  Scenario: a ping over IPv6 is on the record, from the uplink
    When laptop pings the internet over IPv6
    Then 0% of packets are lost
    And the internet saw pings from the uplink
    And the internet saw no pings from laptop

  Scenario: a ping over IPv4 is on the record, from the uplink
    When laptop pings the internet
    Then 0% of packets are lost
    And the internet saw pings from the uplink

  Scenario: nobody pinged: no record of either family
    Then the internet saw no pings from the uplink

  Scenario: WRONG ON PURPOSE after a ping over IPv6, "saw no pings from the uplink" fails
    When laptop pings the internet over IPv6
    Then 0% of packets are lost
    And the internet saw no pings from the uplink
