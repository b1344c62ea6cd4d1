# The draft's closing notes: forward the lab out, MASQUERADE it behind the uplink.
#
#   red 10.16.0.2 -> br0 -> FORWARD/NAVY -> POSTROUTING MASQUERADE -> uplink0 198.51.100.1
#                                                                        |
#                         isp: 203.0.113.10, no route back to 10.16.0.0/24
#
Feature: NAT gets the lab to the internet
  The simulated internet has no route back to the lab's private subnet, as on the
  real one: forwarding alone gets requests out but the replies are lost.

  Background:
    Given the lab is provisioned up to the upstream stage
    And the host forwards the lab to the internet

  Scenario: forwarded without MASQUERADE: the internet sees 10.16.0.2 and cannot answer
    When red pings the internet 2 times
    Then 100% of packets are lost
    And the internet saw pings from red
    And the internet saw no pings from the uplink

  Scenario: with MASQUERADE: 0% loss, and the internet sees the host's uplink address
    Given the host masquerades the lab
    When red pings the internet 2 times
    Then 2 packets are transmitted and 2 received
    And the replies come from the internet
    And the internet saw pings from the uplink
    And the internet saw no pings from red

  Scenario: blue gets out the same way
    Given the host masquerades the lab
    When blue pings the internet
    Then 0% of packets are lost

  Scenario: lab traffic stays unmasqueraded on the bridge
    Given the host masquerades the lab
    When red pings blue
    Then 0% of packets are lost
    And the replies come from blue
