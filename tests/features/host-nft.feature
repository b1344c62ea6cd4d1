# The lab's host with native nft rules of its own beside its iptables (a step adds them):
# "which rule decided" reads both, and names the nft rule that dropped the pings.
#
#   red (veth1-red 10.16.0.2) ---- br0 (host: iptables NAVY, nft table inet mine) ---- blue 10.16.0.3
Feature: The host's own nft rules as evidence
  Scenario: a native nft rule on the host drops red's pings to blue
    Given the lab is fully provisioned
    When I run on the host:
      """
      nft add table inet mine
      nft add chain inet mine guard '{ type filter hook forward priority -10; policy accept; }'
      nft add rule inet mine guard ip daddr 10.16.0.3 counter drop
      """
    And red pings blue
    Then 100% of packets are lost
    And the verdict was decided by "dropped by guard rule 1 (ip daddr 10.16.0.3 drop) in table inet mine"
    And the host's ruleset shows "ip daddr 10.16.0.3 counter drop"

  Scenario: without it, the host's iptables decide as before
    Given the lab is fully provisioned
    When red pings blue
    Then 0% of packets are lost
    And the verdict was decided by "accepted by NAVY rule"
