Feature: Steps that name things the lab does not have
  Scenario: an unknown namespace
    Given the seed lab
    When purple pings blue

  Scenario: a hostile namespace name
    Given the seed lab
    When red; rm -rf / pings blue

  Scenario: an unknown chain
    Given the seed lab
    When the rule accepting 10.16.0.0/24 to 10.16.0.0/24 is removed from chain TEAL

  Scenario: an address outside the lab
    Given the seed lab
    When red pings 192.0.2.1
