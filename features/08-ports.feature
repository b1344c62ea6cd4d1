# Beyond ping: TCP and UDP probes with measured outcomes, and the rule that decided each.
#
#   red 10.16.0.2 ---- br0 ---- blue 10.16.0.3
#                       |        listens on tcp 80, udp 53 (echo)
#        FORWARD (policy ACCEPT or DROP), bridge-nf-call-iptables=1
#
# accepted: the handshake completed; refused: a TCP reset (nothing listens); dropped / no
# answer: nothing came back in time; rejected: an ICMP error came back, named by its code.
Feature: TCP and UDP outcomes across the bridge
  Background:
    Given the seed lab
    And bridge traffic passes through iptables
    And blue listens on tcp port 80
    And blue listens on udp port 53

  Scenario: a listening port accepts, a closed one refuses
    When red connects to blue on tcp port 80
    Then the connection is accepted
    And blue saw a tcp connection from red on port 80
    When red connects to blue on tcp port 81
    Then the connection is refused

  Scenario: the FORWARD policy DROP drops the connection, and says so
    Given the FORWARD policy is DROP
    When red connects to blue on tcp port 80
    Then the connection is dropped
    And the verdict was decided by "FORWARD policy DROP"

  # The host sends REJECT's ICMP error itself, so it needs an address on the bridge: on a
  # bridge without one the error has no route back, and the connection is merely dropped.
  Scenario: a REJECT rule answers with the ICMP code it names
    Given the bridge has the gateway address
    When I run on the host
      """
      iptables -I FORWARD 1 -p tcp --dport 80 -j REJECT --reject-with icmp-admin-prohibited
      """
    And red connects to blue on tcp port 80
    Then the connection is rejected with "admin-prohibited"
    And the verdict was decided by "FORWARD rule 1 (-p tcp -m tcp --dport 80 -j REJECT"

  Scenario: the same REJECT on a bridge the host has no address on is silent
    When I run on the host
      """
      iptables -I FORWARD 1 -p tcp --dport 80 -j REJECT --reject-with icmp-admin-prohibited
      """
    And red connects to blue on tcp port 80
    Then the connection is dropped
    And the verdict was decided by "REJECT --reject-with icmp-admin-prohibited"

  Scenario: UDP: an echo answers, a closed port is unreachable, a DROP is silence
    When red sends to blue on udp port 53
    Then the datagram is answered
    When red sends to blue on udp port 54
    Then the datagram is rejected with "port-unreachable"
    Given the FORWARD policy is DROP
    When red sends to blue on udp port 53
    Then the datagram gets no answer
    And the verdict was decided by "FORWARD policy DROP"

  Scenario: the policy as one table
    Given chain NAVY accepts 10.16.0.2/32 to 10.16.0.3/32
    And the FORWARD policy is DROP
    Then the reachability matrix holds
      | from | to   | service | expect   |
      | red  | blue | tcp/80  | dropped  |
      | red  | blue | udp/53  | no answer |
      | red  | blue | icmp    | lost     |
      | blue | red  | icmp    | lost     |

  Scenario: the host tracks the accepted connection; the listener stays up
    Given the lab is provisioned up to the forward stage
    When red connects to blue on tcp port 80
    Then the connection is accepted for 0.3 s
    And blue is listening on tcp port 80
    And the host tracks the connection as ESTABLISHED
    And the verdict was decided by "rule 1 (-m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT)"
