# Probes that never leave their namespace: red has no default route before the gateway
# stage, so the internet is unreachable from it ("Network is unreachable").
#
#   red 10.16.0.2 ---- br0 ---- blue 10.16.0.3          (no route to 203.0.113.10)
Feature: Unreachable is an outcome a scenario can expect
  Background:
    Given the seed lab

  Scenario: a connection, a datagram and a ping with no route
    When red connects to the internet on tcp port 80
    Then the connection is unreachable
    When red sends to the internet on udp port 53
    Then the datagram is unreachable
    And the reachability matrix holds:
      | from | to           | service | expect      |
      | red  | the internet | tcp/80  | unreachable |
      | red  | the internet | udp/53  | unreachable |
      | red  | the internet | icmp    | unreachable |
      | red  | blue         | icmp    | replies     |

  Scenario: WRONG ON PURPOSE expected accepted where there is no route
    When red connects to the internet on tcp port 80
    Then the connection is accepted

  Scenario: WRONG ON PURPOSE expected unreachable where there is a route
    When red connects to blue on tcp port 80
    Then the connection is unreachable
