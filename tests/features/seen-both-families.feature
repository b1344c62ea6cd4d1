# The listener's record of its peers, in both families (tests/labs/v6out.toml: gw
# masquerades both families behind the uplink).
#
#   laptop ---- lan ---- gw (router) ---- uplink0 198.51.100.1 / 2001:db8:f::1 ---- the internet
@lab:v6out
Feature: The internet's listener saw a connection, over IPv4 or IPv6
  Background:
    Given the lab is fully provisioned
    And the internet listens on tcp port 443

  Scenario: over IPv6, masqueraded behind the uplink's IPv6 address
    When laptop connects to the internet on tcp port 443 over IPv6
    Then the connection is accepted
    And the internet saw a tcp connection from the uplink on port 443
    And the internet saw a tcp connection from the uplink on port 443 over IPv6

  Scenario: over IPv4
    When laptop connects to the internet on tcp port 443
    Then the connection is accepted
    And the internet saw a tcp connection from the uplink on port 443
