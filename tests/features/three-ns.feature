# Only the three-namespace lab (labs/three-ns.toml) passes this: green exists there alone.
#
#   red 10.20.0.2 --+
#   green 10.20.0.3 +-- br-lab 10.20.0.1
#   blue 10.20.0.4 -+
#
Feature: A lab file of its own drives the same steps
  Background:
    Given the lab

  Scenario: three namespaces
    Then ip netns show lists red, green and blue

  Scenario: red reaches green across br-lab
    When red pings green
    Then 0% of packets are lost
    And the replies come from green
