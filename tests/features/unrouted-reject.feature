# A REJECT whose ICMP error cannot be routed back (tests/labs/noreturn.toml): the outcome is
# a drop, and the why-line says why a reject looks like one.
#
#   h1 ---- a ---- r1 ---- b ---- r2 (rejects 23; no route to a) ---- c ---- h3
@lab:noreturn
Feature: A reject whose error cannot reach the client
  Scenario: WRONG ON PURPOSE h1 expects the reject it cannot see
    Given the lab is fully provisioned
    When h1 connects to h3 on tcp port 23
    Then the connection is rejected with "admin-prohibited"

  Scenario: WRONG ON PURPOSE a matrix row expects the reject it cannot see
    Given the lab is fully provisioned
    And h3 listens on tcp port 23
    Then the reachability matrix holds:
      | from | to | service | expect   |
      | h1   | h3 | tcp/23  | rejected |

  Scenario: a ping rejected where the error cannot come back is lost, and says why
    Given the lab is fully provisioned
    When h1 pings h3
    Then 100% of packets are lost
    And the verdict was decided by "r2 rejected it, but the error could not reach h1: r2 has no route to 10.31.1.10"
