# The base lab (docs/seed-story.md, sections 0-1), built by the topology stage:
#
#   red (veth1-red 10.16.0.2/24)            blue (veth1-blue 10.16.0.3/24)
#            |                                        |
#        veth0-red ---------------- br0 ---------- veth0-blue
#
Feature: The base lab: two namespaces on a bridge
  The previous post in the series built this: namespaces, veth pairs, a bridge.
  With nothing filtering yet, red and blue talk across the bridge.

  Background:
    Given the seed lab

  Scenario: ip netns show lists red and blue
    Then ip netns show lists red and blue

  Scenario: red reaches blue across the bridge before any filtering
    When red pings blue
    Then 3 packets are transmitted and 3 received
    And 0% of packets are lost
    And the replies come from blue

  Scenario: blue reaches red too
    When blue pings red
    Then 0% of packets are lost
    And the replies come from red
