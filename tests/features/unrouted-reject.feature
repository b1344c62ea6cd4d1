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
