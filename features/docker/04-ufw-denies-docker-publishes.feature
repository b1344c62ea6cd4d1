# ufw itself on web (default deny incoming, allow 22/tcp, deny 8080/tcp: run for real on
# web's own /etc/ufw, nslab.managers), and Docker publishing a container on 8080, the very
# port ufw denies. ufw guards INPUT; a published port is DNATed in PREROUTING and
# FORWARDed to docker0, where Docker's chains come first: ufw's deny never sees it.
# Published on 127.0.0.1 only, nothing is DNATed for the internet, and ufw's rule decides.
#
#   the internet ---- web 198.51.100.1 ---- lan ---- office
#   (isp)              |  ufw: 22/tcp ALLOW IN, 8080/tcp DENY IN
#                      docker0 -- app 172.17.0.2:80   (publish 8080:80, or 127.0.0.1:8080:80)
Feature: ufw says deny, Docker publishes anyway

  Background:
    Given the lab is fully provisioned

  @lab:docker-ufw
  Scenario: the internet reaches the container on the port ufw denies: Docker's chain decided
    When web runs "ufw status"
    Then the output contains "8080/tcp                   DENY        Anywhere"
    When the internet connects to the uplink on tcp port 8080
    Then the connection is accepted
    And the verdict was decided by "web: accepted by DOCKER rule 1 (-d 172.17.0.2/32 ! -i docker0 -o docker0 -p tcp -m tcp --dport 80 -j ACCEPT) (made by Docker)"

  @lab:docker-ufw
  Scenario: ufw still decides web's own ports
    Given web listens on tcp port 22
    When the internet connects to the uplink on tcp port 22
    Then the connection is accepted
    And the verdict was decided by "web: accepted by ufw-user-input rule 1 (-p tcp -m tcp --dport 22 -j ACCEPT) (made by ufw)"

  @lab:docker-ufw-lo
  Scenario: published on 127.0.0.1 only, ufw's deny decides
    When the internet connects to the uplink on tcp port 8080
    Then the connection is dropped
    And the verdict was decided by "web: dropped by ufw-user-input rule 2 (-p tcp -m tcp --dport 8080 -j DROP) (made by ufw)"
