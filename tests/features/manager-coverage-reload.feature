# `ufw reload` in a scenario restarts ufw's counters (tests/labs/ufw-only.toml;
# tests/netns/test_rule_coverage_managers.py): what matched before it is not lost as
# "never matched", it is unknown; what matched after it is counted.
#   client 10.8.0.10 ---- br-lan ---- web 10.8.0.20 (ufw: default deny incoming, allow 22/tcp)
@lab:ufw-only
Feature: ufw's counters across a reload
  Scenario: port 22 before the reload, port 23 after it
    Given the lab is fully provisioned
    And web listens on tcp port 22
    When client connects to web on tcp port 22
    Then the connection is accepted
    When web runs "ufw reload"
    And client connects to web on tcp port 23
    Then the connection is dropped
