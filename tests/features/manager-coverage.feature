# Rule coverage through the managers (tests/labs/mgrcov.toml; tests/netns/
# test_rule_coverage_managers.py): some of each manager's ports are probed, some are not.
#   client ---- br-lan ---- web (ufw commands), nas (ufw folder), gw (firewalld)
@lab:mgrcov
Feature: rule coverage of ufw's and firewalld's rules
  Background:
    Given the lab is fully provisioned
    And web listens on tcp ports 22, 8080
    And nas listens on tcp ports 2222, 2223
    And gw listens on tcp ports 7000, 8443, 9443

  Scenario: one port of each, and a port web's ufw denies by default
    When client connects to web on tcp port 22
    Then the connection is accepted
    When client connects to web on tcp port 23
    Then the connection is dropped
    When client connects to nas on tcp port 2222
    Then the connection is accepted
    When client connects to gw on tcp port 8443
    Then the connection is accepted
    When client connects to gw on tcp port 7000
    Then the connection is accepted
