# The internet connects from its wan address (the isp, 198.51.100.2) and is reached at its
# server's (203.0.113.10): a listener that saw either saw the internet
# (tests/netns/test_steps_do_what_they_say.py; once "saw tcp port 80 peers 198.51.100.2, not 203.0.113.10").
#
#   pc ---- edge (DNAT 80 on uplink0 -> web) ---- web
#            | uplink0 198.51.100.1
#          isp (the internet) 198.51.100.2: 203.0.113.10
@lab:dmz
Feature: The internet is named by both its addresses
  Scenario: the port-forward's listener saw the internet
    Given the lab is fully provisioned
    And web listens on tcp port 80
    When the internet connects to the uplink on tcp port 80
    Then the connection is accepted
    And web saw a tcp connection from the internet on port 80

  Scenario: the simulated DNS server is a place: the resolver
    Given the lab is fully provisioned
    When pc pings the resolver
    Then 0% of packets are lost
    And the replies come from the resolver
