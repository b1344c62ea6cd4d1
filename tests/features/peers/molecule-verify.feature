# A Molecule verify stage for a firewall role, in nslab's words: the role's ruleset is
# loaded (labs/dmz-edge.nft) and its promises checked port by port, both families.
#
#   pc --- br-lan --- eth0 edge eth1 --- br-dmz --- web, db
@lab:dmz
Feature: The edge firewall role keeps its promises
  Scenario: the LAN reaches the DMZ on 443 and 5432 only; the DMZ never reaches the LAN
    Given the lab is fully provisioned
    And web listens on tcp ports 22, 443
    And pc listens on tcp port 22
    Then edge's ruleset shows "iifname "eth0" oifname "eth1" tcp dport { 443, 5432 } counter accept"
    And the reachability matrix holds:
      | from | to  | service    | expect   |
      | pc   | web | tcp/443    | accepted |
      | pc   | web | tcp/443 v6 | accepted |
      | pc   | web | tcp/22     | dropped  |
      | pc   | web | tcp/22 v6  | dropped  |
      | web  | pc  | tcp/22     | dropped  |
      | web  | pc  | tcp/22 v6  | dropped  |
