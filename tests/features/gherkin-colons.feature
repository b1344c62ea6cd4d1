# Table and docstring steps written with the usual colon before the table or docstring.
#
#   red 10.16.0.2 ---- br0 (host) ---- blue 10.16.0.3
Feature: Steps before a table or a docstring take a trailing colon
  Scenario: every table and docstring step, with its colon
    Given the seed lab
    And the FORWARD policy is DROP
    And chain NAVY accepts 10.16.0.0/24 to 10.16.0.0/24
    When I run on the host:
      """
      echo colon
      """
    Then the output shows:
      """
      colon
      """
    And red's routes are exactly:
      """
      10.16.0.0/24 dev veth1-red proto kernel scope link src 10.16.0.2
      """
    And chain NAVY holds, in order:
      | rule                                    |
      | -s 10.16.0.0/24 -d 10.16.0.0/24 -j ACCEPT |
      | -j RETURN                               |
    And the reachability matrix holds:
      | from | to   | service | expect  |
      | red  | blue | icmp    | replies |
