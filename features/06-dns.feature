# Name resolution inside a namespace: /etc/netns/red/resolv.conf, a DNS server on the
# simulated internet (203.0.113.53) answering *.example.test with 203.0.113.10.
Feature: DNS inside the namespaces
  The host's resolver is a local stub (127.0.0.53, as on Ubuntu), which a namespace
  cannot reach; `ip netns exec` binds /etc/netns/NAME/resolv.conf over it.

  Background:
    Given the lab is provisioned up to the nat stage

  Scenario: without a resolv.conf of its own red cannot resolve names
    When red looks up "www.example.test"
    Then the name does not resolve

  Scenario: with /etc/netns/red/resolv.conf the name resolves
    Given the namespaces have a resolver on the internet
    When red looks up "www.example.test"
    Then the name resolves to the internet

  Scenario: red pings the internet by name
    Given the dns stage has run
    When I run on the host
      """
      ip netns exec red ping -n -c 2 -i 0.02 -W 0.5 www.example.test
      """
    Then the command succeeds
    And the output contains "2 packets transmitted, 2 received, 0% packet loss"
