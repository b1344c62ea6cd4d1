# Run with -D lab=features/managers/labs/managers.toml (tests/test_manager_steps.py):
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

  Scenario: which rule decided a ping through firewalld is not known, and says so
    When client pings gw
    Then the verdict was decided by "filter_IN_public"
