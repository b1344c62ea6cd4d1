# `the output shows` compares lines with blanks folded: iptables -L pads its columns.
#
#   red ---- br0 (host: FORWARD DROP, chain NAVY) ---- blue
Feature: The output shows lines, whatever their padding
  Scenario: iptables -L's padded columns, written with single spaces
    Given the seed lab
    And the FORWARD policy is DROP
    And chain NAVY accepts 10.16.0.0/24 to 10.16.0.0/24
    When I run on the host
      """
      iptables -L NAVY -n
      """
    Then the output shows
      """
      Chain NAVY (1 references)
      ACCEPT 0 -- 10.16.0.0/24 10.16.0.0/24
      """
