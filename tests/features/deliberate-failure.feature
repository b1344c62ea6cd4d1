Feature: A scenario that fails on purpose
  Scenario: expecting replies where FORWARD drops them
    Given the seed lab
    And bridge traffic passes through iptables
    And the FORWARD policy is DROP
    When red pings blue
    Then 0% of packets are lost
