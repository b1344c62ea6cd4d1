# firewalld on gw, for real: its runtime and permanent configuration. A runtime-only
# service is gone after `firewall-cmd --reload`; a --permanent one stays. gw runs
# firewalld in its own namespaces with its own bus and /etc/firewalld (labs/gw-firewalld/
# laid over the package's defaults: zone public also opens 8443/tcp).
#
#   client 10.7.0.10 ---------------- br-lan ---------------- gw 10.7.0.30 (firewalld)
#                                       |
#                                  web 10.7.0.20 (ufw)
@lab:managers
Feature: firewalld's reload drops what was only runtime
  Background:
    Given the lab is fully provisioned
    And gw listens on tcp ports 80, 443, 8443

  Scenario: a runtime service is accepted until firewall-cmd --reload drops it
    When client connects to gw on tcp port 80
    Then the connection is rejected with "admin-prohibited"
    When gw runs "firewall-cmd --add-service=http"
    And client connects to gw on tcp port 80
    Then the connection is accepted
    And the verdict was decided by "gw: accepted by filter_IN_public_allow rule 3 (tcp dport 80 accept) in table inet firewalld (made by firewalld)"
    When gw runs "firewall-cmd --reload"
    And client connects to gw on tcp port 80
    Then the connection is rejected with "admin-prohibited"
    And the verdict was decided by "gw: rejected by filter_IN_public rule 9 (reject with icmpx admin-prohibited) in table inet firewalld (made by firewalld)"

  Scenario: a permanent service survives the reload
    When gw runs "firewall-cmd --permanent --add-service=https"
    And gw runs "firewall-cmd --reload"
    And client connects to gw on tcp port 443
    Then the connection is accepted
    And the verdict was decided by "accepted by filter_IN_public_allow rule 2 (tcp dport 443 accept) in table inet firewalld (made by firewalld)"
    When gw runs "firewall-cmd --list-services"
    Then the output contains "https"

  Scenario: the zone of the lab's folder opens the admin console
    When client connects to gw on tcp port 8443
    Then the connection is accepted
    When gw runs "firewall-cmd --zone=public --list-ports"
    Then the output contains "8443/tcp"
