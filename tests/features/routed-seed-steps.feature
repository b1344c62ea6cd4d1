# The seed story's steps on a routed lab: one line saying so, no traceback.
#
#   h1 ---- a ---- r1 ---- b ---- r2 ---- c ---- h3   (tests/labs/three-nets.toml)
@lab:three-nets
Feature: Seed steps on a routed lab
  Scenario: the bridge's gateway address
    Given the lab
    And the bridge has the gateway address

  Scenario: an unknown stage names the routed lab's stages
    Given the lab is provisioned up to the firewall stage

  Scenario: a seed stage the routed lab does not have
    Given the lab
    And the host forwards the lab to the internet
