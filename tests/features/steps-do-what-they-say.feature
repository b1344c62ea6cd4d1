# Steps that do what they say (tests/netns/test_steps_do_what_they_say.py): each scenario failed on the
# steps before it was written (a dead rule, an undefined Given, a destination read as
# "srv over IPv6", a multi-homed host named by an address its client cannot reach).
#
#   ca 10.41.1.10 ---- a ---- srv (10.41.1.5 | 10.41.2.5) ---- b ---- cb 10.41.2.10
@lab:multihomed
Feature: Steps that do what they say, on a multi-homed host
  Background:
    Given the lab is fully provisioned

  Scenario: a multi-homed host is reached at its address on the source's side
    When cb pings srv
    Then 0% of packets are lost
    And the replies come from srv
    When ca pings srv
    Then 0% of packets are lost
    And the replies come from srv

  Scenario: a connection goes to the address on the source's side too
    Given srv listens on tcp port 22
    When cb connects to srv on tcp port 22
    Then the connection is accepted
    And srv saw a tcp connection from cb on port 22

  Scenario: an IPv6 ping with a size, the modifiers in either order
    When ca pings srv over IPv6 with 1000 bytes of data
    Then 0% of packets are lost
    And the replies come from srv over IPv6
    When cb pings srv with 1000 bytes of data, not fragmented, over IPv6 2 times
    Then 2 packets are transmitted and 2 received
    And the replies come from srv over IPv6

  Scenario: a host's own chain, named by its host
    Then srv's chain INPUT holds, in order
      | rule                                |
      | -p tcp -m tcp --dport 23 -j DROP    |
