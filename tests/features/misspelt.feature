# Misspelt steps: nslab answers each with the closest phrasings (behave only prints a
# snippet to implement them anew).
#
#   red ---- br0 (host) ---- blue
Feature: Misspelt steps
  Scenario: three typos
    Given the seed lab
    When red ping blue
    Then 100% of packet are lost

  Scenario: a matrix with two bad rows
    Given the seed lab
    Then the reachability matrix holds:
      | from | to   | service   | expect   |
      | red  | blue | tcp/80    | acepted  |
      | red  | blue | icmp      | replies  |
      | red  | blue | udp/99999 | answered |
