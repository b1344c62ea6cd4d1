# conntrack's entry for a probe in either family (the dmz lab: pc -> edge -> web; edge's
# ruleset is stateful, so edge tracks the flows).
#
#   pc 10.1.0.10 / 2001:db8:1::10 ---- edge (router) ---- web 10.2.0.10 / 2001:db8:2::10
@lab:dmz
Feature: The router tracks the connection, over IPv4 and over IPv6
  Background:
    Given the lab is fully provisioned
    And web listens on tcp port 443

  Scenario: over IPv6
    When pc connects to web on tcp port 443 over IPv6
    Then the connection is accepted
    And edge tracks the connection as ESTABLISHED

  Scenario: over IPv4
    When pc connects to web on tcp port 443
    Then the connection is accepted
    And edge tracks the connection as ESTABLISHED
