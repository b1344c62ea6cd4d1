# Run with -D lab=features/managers/labs/managers.toml (tests/netns/test_manager_steps.py):
#   client ---- br-lan ---- web (ufw), gw (firewalld)
Feature: a host's own commands
  Background:
    Given the lab is fully provisioned

  Scenario: any command, in the host's namespaces
    When client runs "ip -br addr show"
    Then the command succeeds
    And the output contains "10.7.0.10/24"

  Scenario: firewall-cmd on gw reaches gw's firewalld
    When gw runs "firewall-cmd --get-default-zone"
    Then the output contains "public"

  Scenario: a failing command fails the step with its own words
    When web runs "ufw deny from nowhere"

  Scenario: a manager's command on a host without it
    When client runs "firewall-cmd --reload"

  Scenario: a ping through firewalld is traced: the rule its echo requests met
    When client pings gw
    Then 3 packets are transmitted and 3 received
    And the verdict was decided by "gw: accepted by filter_IN_public rule 8 (meta l4proto { icmp, ipv6-icmp } accept) in table inet firewalld (made by firewalld)"
