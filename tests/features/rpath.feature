# Spoofed sources and reverse-path filtering (the kernel selftest rpath.sh's point): r1
# drops a packet whose source it would not route back out of the interface it came in by
# (rp_filter = 1 on r1, tests/labs/p2p.toml). A spoofed probe's answer goes to the address
# it claimed, so the destination says whether it arrived.
#
#   h1 10.51.1.10 ---- a ---- r1 (rp_filter 1) ==/31, /127== r2 ---- b ---- h2 10.51.2.10
@lab:p2p
Feature: A spoofed source, and the router's reverse-path filter
  Background:
    Given the lab is fully provisioned

  Scenario: a source of h1's own network passes r1
    When h1 pings h2 from 10.51.1.99
    Then h2 saw pings from 10.51.1.99

  Scenario: a source from behind r2, arriving from h1's side, is dropped by r1
    When h1 pings h2 from 10.51.2.99
    Then h2 saw no pings from 10.51.2.99

  Scenario: a datagram and a SYN from a spoofed source
    Given h2 listens on udp port 53
    When h1 sends to h2 on udp port 53 from 10.51.1.98
    Then h2 saw a udp connection from 10.51.1.98 on port 53
    Given h2 listens on tcp port 22
    When h1 connects to h2 on tcp port 22 from 10.51.1.97
    Then h2 saw a tcp connection from 10.51.1.97 on port 22

  Scenario: IPv6 has no reverse-path filter of its own here
    When h1 pings h2 from 2001:db8:51:2::99
    Then h2 saw pings from 2001:db8:51:2::99

  Scenario: a spoofed address outside the lab is refused
    When h1 pings h2 from 192.0.2.1
