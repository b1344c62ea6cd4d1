# Every outcome class with the wrong expectation, and bad step input: each scenario must
# FAIL with one line (tests/netns/test_probes.py checks them). The wrong ones must name the rule
# that decided the real outcome.
#
#   red 10.16.0.2 -- br0 10.16.0.1 -- blue 10.16.0.3 (tcp 80, udp 53)
#
Feature: Probe expectations that do not hold, and probe input that is wrong
  Background:
    Given the seed lab
    And bridge traffic passes through iptables
    And the bridge has the gateway address
    And blue listens on tcp port 80
    And blue listens on udp port 53

  Scenario: accepted, expected dropped
    When red connects to blue on tcp port 80
    Then the connection is dropped

  Scenario: dropped, expected accepted
    Given the FORWARD policy is DROP
    When red connects to blue on tcp port 80
    Then the connection is accepted

  Scenario: refused, expected accepted
    When red connects to blue on tcp port 81
    Then the connection is accepted

  Scenario: rejected, expected refused
    When I run on the host
      """
      iptables -I FORWARD 1 -p tcp --dport 80 -j REJECT --reject-with icmp-host-prohibited
      """
    And red connects to blue on tcp port 80
    Then the connection is refused

  Scenario: rejected with another reason
    When I run on the host
      """
      iptables -I FORWARD 1 -p tcp --dport 80 -j REJECT --reject-with icmp-host-prohibited
      """
    And red connects to blue on tcp port 80
    Then the connection is rejected with "admin-prohibited"

  Scenario: answered, expected no answer
    When red sends to blue on udp port 53
    Then the datagram gets no answer

  Scenario: no answer, expected answered
    Given the FORWARD policy is DROP
    When red sends to blue on udp port 53
    Then the datagram is answered

  Scenario: the matrix with two wrong rows
    Given the FORWARD policy is DROP
    And chain NAVY accepts 10.16.0.2/32 to 10.16.0.3/32
    Then the reachability matrix holds
      | from | to   | service | expect    |
      | red  | blue | tcp/80  | accepted  |
      | red  | blue | udp/53  | no answer |
      | blue | red  | icmp    | replies   |

  Scenario: the probe from a deleted namespace
    When I run on the host
      """
      ip netns del red
      """
    And red connects to blue on tcp port 80

  Scenario: an unknown host
    When purple connects to blue on tcp port 80

  Scenario: port 0
    When red connects to blue on tcp port 0

  Scenario: port 70000
    Given blue listens on udp port 70000

  Scenario: an unknown service word
    Then the reachability matrix holds
      | from | to   | service | expect   |
      | red  | blue | sctp/80 | accepted |

  Scenario: a matrix row with a missing cell
    Then the reachability matrix holds
      | from | to   | service | expect   |
      | red  | blue | tcp/80  | accepted |
      | red  |      | tcp/80  | accepted |

  Scenario: a matrix without its expect column
    Then the reachability matrix holds
      | from | to   | service |
      | red  | blue | tcp/80  |

  Scenario: an outcome that is not one of the protocol's
    Then the reachability matrix holds
      | from | to   | service | expect  |
      | red  | blue | udp/53  | refused |

  Scenario: dropped, expected accepted within a time
    Given the FORWARD policy is DROP
    When red connects to blue on tcp port 80
    Then the connection is accepted within 0.3 s

  Scenario: a time that would run for a day
    When red connects to blue on tcp port 80
    Then the connection is accepted for 100000 s
