# nslab mutate's own scenarios (tests/labs/mutate.toml): b's web ports (a named set), 9000
# (a verdict map), 9100 (a rule over two lines). None reaches 443.
@lab:mutate
Feature: b's ports from a
  Scenario Outline: a reaches b on tcp/<port>
    Given the lab is fully provisioned
    And b listens on tcp port <port>
    When a connects to b on tcp port <port>
    Then the connection is accepted

    Examples:
      | port |
      | 8080 |
      | 9000 |
      | 9100 |

  Scenario: b's web port says which rule accepted it
    Given the lab is fully provisioned
    And b listens on tcp port 80
    When a connects to b on tcp port 80
    Then the connection is accepted
    And the verdict was decided by "tcp dport @web_ports accept"
