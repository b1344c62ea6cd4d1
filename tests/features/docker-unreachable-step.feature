# tests/netns/test_docker_steps.py: a single step to a container its source has no route to
# (guest has no route to dock's docker0) gives its verdict, traced or not.
Feature: A container out of reach is unreachable, step by step as in a matrix

  Scenario: guest connects to api, which it has no route to
    Given the lab is fully provisioned
    When guest connects to api on tcp port 80
    Then the connection is unreachable
