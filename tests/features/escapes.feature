# Raw steps that try to leave the world: each runs, and finds only the world. These
# scenarios PASS; tests/netns/test_reliability.py checks that the machine did not change.
#
#   the machine  >  world (net, mount, PID namespace; / read-only)  >  red, blue
#
Feature: A raw step cannot leave its world
  Background:
    Given the seed lab

  Scenario: nsenter into PID 1's namespaces reaches the world's own PID 1
    When I run on the host
      """
      nsenter -t 1 -n -m ip link add nslab-escape type bridge
      nsenter -t 1 -n ip -o link show nslab-escape
      """
    Then the command succeeds
    And the output contains "nslab-escape"

  Scenario: the host's kernel settings are read-only, the world's network ones are not
    When I run on the host
      """
      echo 0 > /proc/sys/kernel/printk_ratelimit || true
      sysctl -w net.ipv4.ip_forward=1
      """
    Then the output contains "/proc/sys/kernel/printk_ratelimit: Read-only file system"
    And the output contains "net.ipv4.ip_forward = 1"

  Scenario: a namespace outside the lab cannot be entered
    When I run on the host
      """
      ip netns exec nslab-not-in-this-world true || true
      """
    Then the output contains "Cannot open network namespace"

  Scenario: the host's files stay as they are
    When I run on the host
      """
      rm -rf /etc/netns/red || true
      touch /usr/local/nslab-injected /etc/nslab-injected || true
      mount -t tmpfs nslab-over-etc /etc && touch /etc/nslab-injected
      """
    Then the command succeeds
    And the output contains "touch: cannot touch '/usr/local/nslab-injected': Read-only file system"

  Scenario: the world's PID 1 cannot be killed from inside, and the lab still answers
    When I run on the host
      """
      kill -KILL 1
      """
    And red pings blue
    Then 0% of packets are lost
