# A scenario that fails on the unmutated lab (b drops ssh): nslab mutate must not count
# it as killing any mutant, and says it left it out.
@lab:mutate
Feature: a scenario already red
  Scenario: a reaches b's ssh port (it does not: b drops it)
    Given the lab is fully provisioned
    And b listens on tcp port 22
    When a connects to b on tcp port 22
    Then the connection is accepted
