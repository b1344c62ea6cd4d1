# nft named counters (tests/labs/counters.toml: three-nets with r2 counting telnet drops in
# a counter of its own).
#
#   h1 ---- a ---- r1 ---- b ---- r2 (nft: counter telnet_drops) ---- c ---- h3
@lab:counters
Feature: A named nft counter, as evidence and as a step
  Scenario: telnet to h3 is dropped, counted by name
    Given the lab is fully provisioned
    And h3 listens on tcp port 23
    When h1 connects to h3 on tcp port 23
    Then the connection is dropped
    And the verdict was decided by "r2: dropped by forward rule 1 (tcp dport 23 counter name"
    And r2's counter telnet_drops counted at least 1 packets

  Scenario: a host's ruleset, as its own tool lists it
    Given the lab is fully provisioned
    Then r2's ruleset shows "tcp dport 23 counter name "telnet_drops" drop"
    And r2's ruleset shows "type filter hook forward priority filter; policy accept;"
    And the host's ruleset shows "-A FORWARD -p ipv6-icmp -m icmp6 --icmpv6-type 135 -j ACCEPT"
