# The NAT router built from Debian's nftables examples (labs/router.nft), port by port.
#
#   pc (LAN, eth0) ---- router ---- web, git (DMZ, eth1)     LAN -> anywhere
#                          |                                 DMZ -> the internet: 80, 443 only
#                     the internet (uplink0)                 internet -> DMZ: the port-forwards
@lab:nat-router
Feature: The NAT router's firewall and port-forwards
  Background:
    Given the lab is fully provisioned

  Scenario: the LAN goes out masqueraded behind the uplink
    Given the internet listens on tcp port 80
    When pc connects to the internet on tcp port 80
    Then the connection is accepted
    And the internet saw a tcp connection from the uplink on port 80

  Scenario: the internet comes in by the port-forwards of 80 and 2222
    Given web listens on tcp ports 80, 443
    And git listens on tcp port 22
    When the internet connects to the uplink on tcp port 80
    Then the connection is accepted
    And web saw a tcp connection from the isp on port 80
    When the internet connects to the uplink on tcp port 2222
    Then the connection is accepted
    And git saw a tcp connection from the isp on port 22

  Scenario: the DMZ never opens a connection into the LAN
    Given pc listens on tcp port 22
    When web connects to pc on tcp port 22
    Then the connection is dropped
    And the verdict was decided by "router: dropped by forward rule 6 (counter drop) in table inet filter at router.nft:43"

  Scenario: ssh to the router from the LAN only
    Given router listens on tcp port 22
    When pc connects to router on tcp port 22
    Then the connection is accepted
    When web connects to router on tcp port 22
    Then the connection is dropped
