# nslab mutate through the managers (tests/labs/mutate-managers.toml): one ufw command of
# u's (22/tcp) and one port of f's public zone (8443/tcp) are reached; u's 8080 and f's
# 9443 are not, so their mutants survive.
@lab:mutate-managers
Feature: a reaches one port of each manager's host
  Scenario: u's ssh and f's console are open
    Given the lab is fully provisioned
    And u listens on tcp port 22
    And f listens on tcp port 8443
    When a connects to u on tcp port 22
    Then the connection is accepted
    When a connects to f on tcp port 8443
    Then the connection is accepted
