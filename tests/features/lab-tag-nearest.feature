# A scenario's own @lab tag beats its feature's (tests/netns/test_steps_do_what_they_say.py): behave keeps a
# scenario's tags in a set, so "the last lab tag" was the feature's or the scenario's by
# the interpreter's hash seed.
@lab:multihomed
Feature: The nearest @lab tag wins
  Scenario: the feature's lab
    Given the lab
    Then ip netns show lists srv, ca and cb

  @lab:dmz
  Scenario: the scenario's own lab
    Given the lab
    Then ip netns show lists edge, pc, web and db
