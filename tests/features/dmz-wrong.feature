# A wrong expectation on a routed lab, on purpose: the edge router's nft ruleset decides.
#
#   pc ---- br-lan ---- edge (nft: LAN -> DMZ on 443 and 5432 only) ---- br-dmz ---- web
@lab:dmz
Feature: A routed lab's failure, with the deciding router's ruleset in its diagnostics
  Scenario: WRONG ON PURPOSE pc reaches web on port 22
    Given the lab is fully provisioned
    When pc connects to web on tcp port 22
    Then the connection is accepted
