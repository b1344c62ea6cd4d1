# The host's firewall denies every incoming connection, yet the internet reaches the
# container Docker publishes: a published port is DNATed in PREROUTING and then FORWARDed
# to docker0, so it never meets the INPUT chain the host's deny policy guards. Published
# on 127.0.0.1 only, nothing of it is reachable from outside.
#
#   the internet ---- web 198.51.100.1 ---- lan ---- office
#   (isp)              |  INPUT policy DROP (labs/web-deny-incoming.rules, as
#                      |  `ufw default deny incoming` leaves it)
#                      docker0 -- app 172.17.0.2:80   (publish 8080:80, or 127.0.0.1:8080:80)
#
# The deny policy is a plain iptables file here: this story does not depend on which tool
# wrote it (04-ufw-denies-docker-publishes has ufw itself on web).
Feature: A published container is reachable whatever the host's INPUT policy says

  Background:
    Given the lab is fully provisioned

  @lab:docker-web
  Scenario: the internet reaches the published container: Docker's chain decided
    When the internet connects to the uplink on tcp port 8080
    Then the connection is accepted
    And the verdict was decided by "web: accepted by DOCKER rule 1 (-d 172.17.0.2/32 ! -i docker0 -o docker0 -p tcp -m tcp --dport 80 -j ACCEPT) (made by Docker)"

  @lab:docker-web
  Scenario: the host's own ports stay closed to the internet
    When the internet connects to the uplink on tcp port 22
    Then the connection is dropped
    And the verdict was decided by "web: dropped by INPUT policy DROP"

  @lab:docker-web
  Scenario: the container is a place of its own, on web's private bridge
    When office connects to app on tcp port 80
    Then the connection is unreachable
    When web connects to app on tcp port 80
    Then the connection is accepted

  @lab:docker-web
  Scenario: the reachability matrix names the container as it names a host
    Then the reachability matrix holds
      | from         | to         | service  | expect      |
      | the internet | the uplink | tcp/8080 | accepted    |
      | the internet | the uplink | tcp/22   | dropped     |
      | web          | app        | tcp/80   | accepted    |
      | office       | app        | tcp/80   | unreachable |
      | app          | office     | icmp     | replies     |

  @lab:docker-local
  Scenario: published on 127.0.0.1, the container is out of the internet's reach
    When the internet connects to the uplink on tcp port 8080
    Then the connection is dropped
    And the verdict was decided by "web: dropped by INPUT policy DROP"
