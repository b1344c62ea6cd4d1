# The blog's commands as written, typed at the host prompt (here: a world's root
# namespace). Two deliberate changes: 8.8.8.8 becomes the simulated internet's
# 203.0.113.10 (no test sends a packet off this machine), and pings that expect
# loss wait 0.1 s for a reply instead of ping's default linger of 10 s.
Feature: Replay the blog post literally
  Scenario: the whole post, command by command
    Given the simulated internet
    When I run on the host
      """
      ip netns add red
      ip netns add blue
      ip netns show
      ip link add br0 type bridge
      ip link set br0 up
      ip link add veth0-red type veth peer name veth1-red
      ip link add veth0-blue type veth peer name veth1-blue
      ip link set veth1-red netns red
      ip link set veth1-blue netns blue
      ip link set veth0-red master br0 up
      ip link set veth0-blue master br0 up
      ip netns exec red ip addr add 10.16.0.2/24 dev veth1-red
      ip netns exec blue ip addr add 10.16.0.3/24 dev veth1-blue
      ip netns exec red ip link set veth1-red up
      ip netns exec blue ip link set veth1-blue up
      sysctl -w net.bridge.bridge-nf-call-iptables=1
      sysctl -w net.ipv4.ip_forward=1
      iptables -P FORWARD DROP
      ip netns exec red ping 10.16.0.3 -c 3 -i 0.02 -W 0.1
      iptables -L | grep FORWARD
      iptables -N NAVY
      iptables -I FORWARD 1 -j NAVY
      iptables -A NAVY -j RETURN
      iptables -I NAVY 1 -s 10.16.0.0/24 -d 10.16.0.0/24 -j ACCEPT
      ip netns exec red ping 10.16.0.3 -c 3 -i 0.02
      ip netns exec red ping 203.0.113.10 -c 2
      ip a add 10.16.0.1/24 dev br0
      ip netns exec red ip route add 0.0.0.0/0 via 10.16.0.1 dev veth1-red
      ip netns exec red ip route
      ip netns exec red ping 10.16.0.1 -c 2 -i 0.02
      iptables -I NAVY 2 -o br0 -j ACCEPT
      ip netns exec red ping 203.0.113.10 -c 2 -i 0.02 -W 0.1
      iptables -t nat -A POSTROUTING -s 10.16.0.0/24 ! -o br0 -j MASQUERADE
      iptables -I NAVY 1 -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT
      iptables -I NAVY 2 -i br0 ! -o br0 -s 10.16.0.0/24 -j ACCEPT
      ip netns exec red ping 203.0.113.10 -c 2 -i 0.02
      """
    Then the output shows
      """
      net.bridge.bridge-nf-call-iptables = 1
      net.ipv4.ip_forward = 1
      3 packets transmitted, 0 received, 100% packet loss
      Chain FORWARD (policy DROP)
      64 bytes from 10.16.0.3: icmp_seq=1 ttl=64
      3 packets transmitted, 3 received, 0% packet loss
      ping: connect: Network is unreachable
      default via 10.16.0.1 dev veth1-red
      10.16.0.0/24 dev veth1-red proto kernel scope link src 10.16.0.2
      2 packets transmitted, 2 received, 0% packet loss
      2 packets transmitted, 0 received, 100% packet loss
      2 packets transmitted, 2 received, 0% packet loss
      """
    And the output contains "red"
    And the output contains "blue"
