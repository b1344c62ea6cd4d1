# Commands on a Docker host talk to its own, private dockerd (DOCKER_HOST of that host's
# daemon, never the machine's socket): `docker stop` there closes what the container
# published, as on the real host.
#
#   the internet ---- web 198.51.100.1 (INPUT policy DROP)
#                      docker0 -- app 172.17.0.2:80   (publish 8080:80)
@lab:docker-web
Feature: Docker commands on a lab host

  Background:
    Given the lab is fully provisioned

  Scenario: docker stop on web takes the published port away
    When the internet connects to the uplink on tcp port 8080
    Then the connection is accepted
    When web runs "docker stop app"
    And the internet connects to the uplink on tcp port 8080
    Then the connection is dropped
    And the verdict was decided by "web: dropped by INPUT policy DROP"

  Scenario: web's Docker lists its own container, and only it
    When web runs "docker ps --format {{.Names}}"
    Then the command succeeds
    And the output contains "app"
