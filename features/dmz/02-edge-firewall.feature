# The runbook: the edge router's own nft ruleset (labs/dmz-edge.nft), proven port by port.
#
#   pc (LAN) ---- edge ---- web, db (DMZ)        LAN -> DMZ: 443 and 5432 only
#                  |                             internet -> DMZ: only 80, port-forwarded to web
#              the internet                      out: masqueraded behind 198.51.100.1
@lab:dmz
Feature: The edge router's firewall
  Background:
    Given the lab is fully provisioned
    And web listens on tcp ports 80, 443
    And db listens on tcp ports 5432, 22

  Scenario: the LAN reaches the DMZ on 443 and 5432 only, over IPv4 and IPv6
    Then the reachability matrix holds
      | from | to  | service     | expect   |
      | pc   | web | tcp/443     | accepted |
      | pc   | db  | tcp/5432    | accepted |
      | pc   | web | tcp/80      | dropped  |
      | pc   | db  | tcp/22      | dropped  |
      | pc   | web | tcp/443 v6  | accepted |
      | pc   | db  | tcp/5432 v6 | accepted |
      | pc   | db  | tcp/22 v6   | dropped  |
      | pc   | web | icmp        | replies  |
      | pc   | web | icmp v6     | replies  |
      | web  | pc  | icmp        | lost     |

  Scenario: a dropped port says which rule dropped it
    When pc connects to db on tcp port 22
    Then the connection is dropped
    And the verdict was decided by "edge: dropped by forward rule 7 (drop) in table inet edge"

  Scenario: the internet reaches the web server only through the port-forward of 80
    When the internet connects to the uplink on tcp port 80
    Then the connection is accepted
    And web saw a tcp connection from the isp on port 80
    And the verdict was decided by "ct status dnat accept"
    When the internet connects to the uplink on tcp port 443
    Then the connection is refused

  Scenario: the LAN goes out masqueraded behind the uplink
    Given the internet listens on tcp port 80
    When pc connects to the internet on tcp port 80
    Then the connection is accepted
    And the internet saw a tcp connection from the uplink on port 80
    And edge tracks the connection as ESTABLISHED

  Scenario: names resolve to both addresses of the internet
    When pc looks up "www.example.test"
    Then the name resolves to the internet
    And the name resolves to the internet over IPv6
