# Hostile step input: every scenario must FAIL with one line naming the problem, with no
# traceback, nothing injected and nothing left behind (tests/netns/test_reliability.py).
#
#   red 10.16.0.2 -- br0 -- blue 10.16.0.3
#
Feature: Hostile step arguments
  Background:
    Given the seed lab

  Scenario: shell metacharacters in a namespace name
    When red; touch /tmp/nslab-injected pings blue

  Scenario: a command substitution as a namespace name
    When $(touch /tmp/nslab-injected) pings blue

  Scenario: a command after the destination
    When red pings blue; touch /tmp/nslab-injected

  Scenario: ping options smuggled into the destination
    When red pings -f 10.16.0.3

  Scenario: a name over 15 bytes
    When averyveryverylongname pings blue

  Scenario: a ping count that would run for hours
    When red pings blue 100000 times

  Scenario: zero pings
    When red pings blue 0 times

  Scenario: a subnet with a bad prefix
    Given chain NAVY accepts 10.16.0.0/33 to 10.16.0.0/24

  Scenario: a subnet with host bits
    Given chain NAVY accepts 10.16.0.1/24 to 10.16.0.0/24

  Scenario: a chain name with a semicolon
    Given chain NA;VY accepts nothing

  Scenario: a built-in chain as the custom chain
    Given chain FORWARD accepts nothing

  Scenario: a FORWARD policy that does not exist
    Given the FORWARD policy is MAYBE

  Scenario: a stage that does not exist
    Given the lab is provisioned up to the bogus stage

  Scenario: a stage name with a path in it
    Given the ../../etc stage has run

  Scenario: a sysctl outside the network
    Then kernel.sysrq is 1 on the host

  Scenario: a sysctl with a command in it
    Then net.ipv4.ip_forward;id is 1 on the host

  Scenario: a port with a command in it
    When red connects to blue on tcp port 80;id

  Scenario: a negative port
    Given blue listens on tcp port -1

  Scenario: a port past 65535
    When red sends to blue on udp port 65536

  Scenario: an address outside the lab
    When red connects to 192.0.2.1 on tcp port 80

  Scenario: a public address
    When red pings 8.8.8.8

  Scenario: the upstream namespace as a lab namespace
    When isp pings red
