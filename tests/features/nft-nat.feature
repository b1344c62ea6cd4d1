# nft_nat.sh in nslab's words (tests/labs/nat.toml): each translation seen where it lands,
# and named as the rule that decided it.
#
#   c1 ---- lan ---- eth0 r eth1 (10.90.2.1, .100) ---- srv ---- s
@lab:nat
Feature: Masquerade, snat, dnat and redirect on a router, both families
  Background:
    Given the lab is fully provisioned

  Scenario: masquerade: s sees r's address
    Given s listens on tcp port 80
    When c1 connects to s on tcp port 80
    Then the connection is accepted
    And s saw a tcp connection from 10.90.2.1 on port 80
    And the verdict was decided by "r: translated by postrouting rule 1 (oifname "eth1" tcp dport 80 masquerade)"
    When c1 connects to s on tcp port 80 over IPv6
    Then s saw a tcp connection from 2001:db8:90:2::1 on port 80 over IPv6

  Scenario: snat to r's second address
    Given s listens on tcp port 8080
    When c1 connects to s on tcp port 8080
    Then s saw a tcp connection from 10.90.2.100 on port 8080
    When c1 connects to s on tcp port 8080 over IPv6
    Then s saw a tcp connection from 2001:db8:90:2::100 on port 8080 over IPv6

  Scenario: dnat: r's 2222 is s's 22, and s sees c1 itself
    Given s listens on tcp port 22
    When c1 connects to 10.90.1.1 on tcp port 2222
    Then the connection is accepted
    And s saw a tcp connection from c1 on port 22
    And the verdict was decided by "r: translated by prerouting rule 1"
    When c1 connects to 2001:db8:90:1::1 on tcp port 2222 over IPv6
    Then s saw a tcp connection from c1 on port 22 over IPv6

  Scenario: redirect: 9090 for s lands on r's own 9091
    Given r listens on tcp port 9091
    When c1 connects to s on tcp port 9090
    Then the connection is accepted
    And r saw a tcp connection from c1 on port 9091
