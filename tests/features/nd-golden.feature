# A lab whose gateway drops IPv6 neighbour discovery (tests/labs/ndgw.toml), checked
# against its golden file three times over (tests/netns/test_neighbour_discovery.py
# records ndgw.reach where behave runs): flows lost to discovery read the same every time.
#
#   desk --- lan --- eth0 fw uplink0 --- the internet
Feature: Neighbour discovery failures read the same on every run
  Scenario: the first check
    Given the lab is fully provisioned
    Then the lab's reachability matches "ndgw.reach"

  Scenario: the second check
    Given the lab is fully provisioned
    Then the lab's reachability matches "ndgw.reach"

  Scenario: the third check
    Given the lab is fully provisioned
    Then the lab's reachability matches "ndgw.reach"
