# The HTML report names the lab this ran on (its @lab: tag, not the project's lab) and
# the failing step at its own line, not the scenario's (tests/netns/test_messages.py).
@lab:three-ns
Feature: A report of a run on a lab of a feature's own
  Scenario: a failing step three lines below its scenario
    Given the lab
    Then ip netns show lists red, green and blue
    And ip netns show lists red, green and purple
