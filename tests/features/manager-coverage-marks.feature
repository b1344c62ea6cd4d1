# The tracer's loopback pings are nslab's own (tests/labs/mgrcov-ipt.toml;
# tests/netns/test_rule_coverage_managers.py): a firewalld host makes every probe traced.
#   client ---- br-lan ---- fw (iptables file), nf (nft file), gw (firewalld)
@lab:mgrcov-ipt
Feature: the tracer's marks beside an iptables file and an nft file
  Scenario: one traced probe to fw, one to nf
    Given the lab is fully provisioned
    And fw listens on tcp port 80
    And nf listens on tcp port 80
    When client connects to fw on tcp port 80
    Then the connection is accepted
    When client connects to nf on tcp port 80
    Then the connection is accepted
