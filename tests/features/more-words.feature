# Words users missed (tests/netns/test_steps_do_what_they_say.py): counters that counted no, exactly or at
# most N packets, a ruleset's lines in order, a host's loopback as a destination.
#
#   h1 ---- a ---- r1 ---- b ---- r2 (nft: counter telnet_drops) ---- c ---- h3
@lab:counters
Feature: More words for what users check
  Background:
    Given the lab is fully provisioned
    And h3 listens on tcp ports 22, 23

  Scenario: a named counter counted no, exactly and at most N packets
    Then r2's counter telnet_drops counted no packets
    When h1 connects to h3 on tcp port 23
    Then the connection is dropped
    And r2's counter telnet_drops counted exactly 1 packets
    And r2's counter telnet_drops counted at most 1 packets

  Scenario: a ruleset's lines, in order
    Then r2's ruleset shows, in order:
      """
      counter telnet_drops {
      chain forward {
      tcp dport 23 counter name "telnet_drops" drop
      tcp dport 22 counter accept
      """
    And the ruleset shows, in order:
      """
      tcp dport 23 counter name "telnet_drops" drop
      tcp dport 22 counter accept
      """

  Scenario: a host's loopback
    When h3 connects to h3's loopback on tcp port 22
    Then the connection is accepted
    When h3 pings 127.0.0.1
    Then 0% of packets are lost
    When h3 pings h3's loopback over IPv6
    Then 0% of packets are lost
    And the replies come from h3's loopback over IPv6
