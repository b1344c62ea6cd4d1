Feature: A scenario that takes a minute, to be killed half-way
  Scenario: the full lab, then a long wait
    Given the lab is fully provisioned
    When I run on the host
      """
      echo nslab-long-running-started
      sleep 120
      """
