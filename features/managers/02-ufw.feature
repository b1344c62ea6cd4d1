# ufw on web, for real: the lab file's commands (`default deny incoming`, `allow 22/tcp`)
# run in web's namespaces on a copy of the package's /etc/ufw, then ufw is enabled. A
# rule added in a scenario (`ufw allow 80/tcp`) opens its port at once.
#
#   client 10.7.0.10 ---------------- br-lan ---------------- gw 10.7.0.30 (firewalld)
#                                       |
#                                  web 10.7.0.20 (ufw)
@lab:managers
Feature: ufw on a lab host
  Background:
    Given the lab is fully provisioned
    And web listens on tcp ports 22, 80

  Scenario: ssh is allowed and everything else incoming is denied (ufw sets INPUT's policy)
    When client connects to web on tcp port 22
    Then the connection is accepted
    And the verdict was decided by "web: accepted by ufw-user-input rule 1 (-p tcp -m tcp --dport 22 -j ACCEPT) (made by ufw)"
    When client connects to web on tcp port 80
    Then the connection is dropped
    And the verdict was decided by "web: dropped by INPUT policy DROP (made by ufw)"

  Scenario: a rule added with ufw opens its port at once
    When web runs "ufw allow 80/tcp"
    Then the output contains "Rule added"
    When client connects to web on tcp port 80
    Then the connection is accepted
    And the verdict was decided by "web: accepted by ufw-user-input rule 2 (-p tcp -m tcp --dport 80 -j ACCEPT) (made by ufw)"
    When web runs "ufw status numbered"
    Then the output shows:
      """
      Status: active
      [ 1] 22/tcp ALLOW IN Anywhere
      [ 2] 80/tcp ALLOW IN Anywhere
      """
