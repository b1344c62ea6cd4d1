# Every negative step, with its probe made impossible: each scenario must FAIL, with one
# line naming why (tests/netns/test_honest_verdicts.py checks the lines). A probe that did not run is
# an error, never a verdict.
#
#   red 10.16.0.2 -- br0 -- blue 10.16.0.3        (no simulated internet unless named)
#
Feature: Negative verdicts need a probe that ran
  Background:
    Given the seed lab
    And bridge traffic passes through iptables
    And the FORWARD policy is DROP

  Scenario: loss, with red deleted behind the lab's back
    When I run on the host
      """
      ip netns del red
      """
    And red pings blue
    Then 100% of packets are lost

  Scenario: loss, with ping not executable
    When I run on the host
      """
      mount --bind /dev/null "$(command -v ping)"
      """
    And red pings blue
    Then 100% of packets are lost

  Scenario: loss, with a ping that prints no statistics
    When I run on the host
      """
      printf '#!/bin/sh\necho "ping: something odd"\n' > /run/nslab/fake-ping
      chmod +x /run/nslab/fake-ping
      mount --bind /run/nslab/fake-ping "$(command -v ping)"
      """
    And red pings blue
    Then 100% of packets are lost

  Scenario: loss, where ping refused to send (a different claim)
    When red pings 198.51.100.2
    Then 100% of packets are lost

  Scenario: unreachable, with red deleted
    When I run on the host
      """
      ip netns del red
      """
    And red pings the internet
    Then the ping fails with "Network is unreachable"

  Scenario: decided by the wrong rule
    When red pings blue
    Then 100% of packets are lost
    And the verdict was decided by "NAVY"

  Scenario: no rule decided, where the policy did
    When red pings blue
    Then no firewall rule decided the verdict

  Scenario: does not resolve, with red deleted
    When I run on the host
      """
      ip netns del red
      """
    And red looks up "www.example.test"
    Then the name does not resolve

  Scenario: does not resolve, with getent not executable
    When I run on the host
      """
      mount --bind /dev/null "$(command -v getent)"
      """
    And red looks up "www.example.test"
    Then the name does not resolve

  Scenario: saw no pings, without a simulated internet
    When red pings blue
    Then the internet saw no pings from red

  Scenario: no default route, with red deleted
    When I run on the host
      """
      ip netns del red
      """
    Then red has no default route
