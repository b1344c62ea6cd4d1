# Your first nslab scenarios, on labs/lab.toml:
#
#   pc 10.1.0.10 ---- br-lan ---- web 10.1.0.80 (listens on tcp 80)
#
Feature: pc reaches the web server
  Background:
    Given the lab is fully provisioned
    And web listens on tcp port 80

  Scenario: pc pings web
    When pc pings web
    Then 0% of packets are lost

  Scenario: pc opens the web port, and nothing else
    When pc connects to web on tcp port 80
    Then the connection is accepted
    When pc connects to web on tcp port 22
    Then the connection is refused

  Scenario: the same over IPv6
    When pc connects to web on tcp port 80 over IPv6
    Then the connection is accepted

  Scenario: a custom step of your own (steps/nslab_steps.py)
    Then pc has an address on lan
