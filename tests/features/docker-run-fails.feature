# A deliberate failure (tests/netns/test_docker_steps.py): a Docker command that exits non-zero
# fails its step with the command's own error. Run with -D lab=features/docker/labs/docker-web.toml.
Feature: A failing Docker command fails its step

  Scenario: docker stop of a container web does not run
    Given the lab is fully provisioned
    When web runs "docker stop nothere"
