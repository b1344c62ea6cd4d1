# A scenario's probe lost to neighbour discovery (tests/labs/ndgw.toml): fw's input chain
# drops the adverts desk answers with, and fw gives up on desk after 3 solicitations 50 ms
# apart, so the kernel's address-unreachable comes within the probe's wait. The verdict
# is the same however soon it comes (tests/netns/test_neighbour_discovery.py).
#
#   desk --- lan --- eth0 fw uplink0 --- the internet
Feature: A scenario's probe lost to neighbour discovery reads as dropped
  Scenario: fw cannot resolve desk over IPv6
    Given the lab is fully provisioned
    And desk listens on tcp port 22
    When fw connects to desk on tcp port 22 over IPv6
    Then the connection is dropped
    When fw sends to desk on udp port 53 over IPv6
    Then the datagram gets no answer
