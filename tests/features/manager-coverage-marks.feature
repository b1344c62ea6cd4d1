# The tracer's loopback pings are nslab's own (tests/labs/mgrcov-ipt.toml;
# tests/netns/test_rule_coverage_managers.py): a firewalld host makes every probe traced.
#   client ---- br-lan ---- fw (iptables file), gw (firewalld)
@lab:mgrcov-ipt
Feature: the tracer's marks beside an iptables file
  Scenario: one traced probe to fw
    Given the lab is fully provisioned
    And fw listens on tcp port 80
    When client connects to fw on tcp port 80
    Then the connection is accepted
