# ufw's rules read by their counters (tests/labs/ufw-only.toml: no firewalld host, no trace).
#   client 10.8.0.10 ---- br-lan ---- web 10.8.0.20 (ufw)
@lab:ufw-only
Feature: ufw's rules by their counters
  Background:
    Given the lab is fully provisioned
    And web listens on tcp ports 22, 80

  Scenario: a connection and a ping, each decided by a rule ufw made
    When client connects to web on tcp port 22
    Then the connection is accepted
    And the verdict was decided by "web: accepted by ufw-user-input rule 1 (-p tcp -m tcp --dport 22 -j ACCEPT) (made by ufw)"
    When client connects to web on tcp port 80
    Then the connection is dropped
    And the verdict was decided by "web: dropped by INPUT policy DROP (made by ufw)"
    When client pings web
    Then the verdict was decided by "web: accepted by ufw-before-input rule 8 (-p icmp -m icmp --icmp-type 8 -j ACCEPT) (made by ufw)"
