# Docker on the seed's host (docs/seed-story.md): installing docker.io breaks the bridge.
#
#   red 10.16.0.2 -- br0 -- blue 10.16.0.3        dockerd on the host: docker0 172.17.0.1/16,
#                    |                             ip_forward 0 -> 1 and FORWARD policy -> DROP
#                  host (dockerd, docker0)
#
# dockerd sets the FORWARD policy to DROP only when it turns ip_forward on itself (Docker
# 20.10, libnetwork setupIPForwarding): started after the host already forwards, it leaves it.
#
# bridge-nf-call-iptables=1 sends the frames red and blue exchange over br0 through the
# host's FORWARD chain, where dockerd has set the policy to DROP: the DOCKER-USER chain,
# which Docker jumps to first and never touches, is where the fix goes.
@seed-literal
Feature: Docker on the host breaks the bridge, DOCKER-USER mends it

  Background:
    Given the seed lab

  Scenario: dockerd set the FORWARD policy to DROP, and red no longer reaches blue
    Given Docker runs on the host
    And bridge traffic passes through iptables
    When red pings blue
    Then 100% of packets are lost
    And iptables shows "Chain FORWARD (policy DROP)"
    And the verdict was decided by "dropped by FORWARD policy DROP (made by Docker) (+3 packets)"

  Scenario: a DOCKER-USER rule accepting the bridge's own traffic restores it
    Given Docker runs on the host
    And bridge traffic passes through iptables
    When I run on the host:
      """
      iptables -I DOCKER-USER -i br0 -o br0 -j ACCEPT
      """
    And red pings blue
    Then 0% of packets are lost
    And the verdict was decided by "accepted by DOCKER-USER rule 1 (-i br0 -o br0 -j ACCEPT)"

  Scenario: where the host forwards already, dockerd leaves the FORWARD policy as it was
    Given bridge traffic passes through iptables
    And Docker runs on the host
    When red pings blue
    Then 0% of packets are lost
    And iptables shows "Chain FORWARD (policy ACCEPT)"
