# Steps that cannot know say so (tests/netns/test_steps_do_what_they_say.py): every scenario fails on
# purpose, with one line naming the problem and the fix.
#
#   ca 10.41.1.10 ---- a ---- srv (10.41.1.5 | 10.41.2.5, iptables) ---- b ---- cb 10.41.2.10
@lab:multihomed
Feature: Steps that cannot know say so
  Background:
    Given the lab is fully provisioned

  Scenario: WRONG ON PURPOSE a spoofed ping's loss is not measured
    When ca pings srv from 10.41.1.99
    Then 100% of packets are lost

  Scenario: WRONG ON PURPOSE whose chain INPUT?
    Then chain INPUT holds, in order
      | rule                             |
      | -p tcp -m tcp --dport 23 -j DROP |

  Scenario: WRONG ON PURPOSE another host's loopback
    When ca pings srv's loopback

  Scenario: WRONG ON PURPOSE a lab without [upstream] has no internet
    When ca pings the internet

  @lab:mtu
  Scenario: WRONG ON PURPOSE "the ruleset" in a lab without ruleset files
    Then the ruleset shows, in order:
      """
      -A INPUT
      """
