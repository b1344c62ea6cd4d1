# Every ping a scenario sends is recorded where it arrives, so "saw pings" and "saw no
# pings" are both measured for ordinary pings too (only spoofed ones were: "saw no pings
# from h1" passed right after h1 pinged h2 and got every reply). The last scenario fails on
# purpose: h1's pings did arrive.
@lab:p2p
Feature: Who saw whose pings
  Background:
    Given the lab is fully provisioned

  Scenario: an ordinary ping is seen where it arrived, and nowhere else
    When h1 pings h2
    Then 0% of packets are lost
    And h2 saw pings from h1
    And h1 saw no pings from h2
    And r1 saw no pings from h1

  Scenario: an ordinary ping over IPv6 is seen too
    When h1 pings h2 over IPv6
    Then 0% of packets are lost
    And h2 saw pings from 2001:db8:51:1::10

  Scenario: a host nobody pinged saw no pings
    When h2 pings r2
    Then r2 saw pings from h2
    And h2 saw no pings from h1

  Scenario: saw no pings fails when the pings arrived
    When h1 pings h2
    Then 0% of packets are lost
    And h2 saw no pings from h1
