# A matrix whose rows are bad for different reasons: one error names every one of them
# (tests/netns/test_messages.py).
#
#   red ---- br0 (host) ---- blue
Feature: A matrix with three rows bad for three reasons
  Scenario: an unknown host, a bad port, a bad expectation
    Given the seed lab
    Then the reachability matrix holds:
      | from | to     | service   | expect   |
      | red  | blue   | icmp      | replies  |
      | red  | purple | tcp/80    | accepted |
      | red  | blue   | udp/99999 | accepted |
      | blue | red    | tcp/22    | acepted  |
