# The lab's whole reachability against a golden file (nslab explore --record): every flow
# of the dmz lab measured in the scenario's world and compared with dmz.reach, which
# tests/netns/test_explore.py writes where behave runs, right or wrong on purpose.
#
#   pc 10.1.0.10 --- br-lan --- eth0 edge eth1 --- br-dmz --- web 10.2.0.10, db 10.2.0.20
#                                edge uplink0 --- the internet (203.0.113.10)
@lab:dmz
Feature: The lab's reachability against a golden file
  Scenario: every flow as recorded
    Given the lab is fully provisioned
    Then the lab's reachability matches "dmz.reach"
