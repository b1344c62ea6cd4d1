#!/usr/bin/env bash
# Stage networks (the seed story's "topology", docs/seed-story.md sections 0-1): a bridge
# per network on the lab's host (with the host's address where it joins from the start),
# a namespace per host, a veth pair per interface (one leg in the host with its addresses,
# the other on the network's bridge). For the seed lab, equivalent to:
#   ip netns add red; ip link add br0 type bridge; ip link set br0 up
#   ip link add veth0-red type veth peer name veth1-red netns red
#   ip link set veth0-red master br0 up
#   ip -n red addr add 10.16.0.2/24 dev veth1-red; ip -n red link set veth1-red up
# Where the lab routes (routers, static routes or IPv6), every host's forwarding is set
# either way: a new namespace copies IPv4's conf/all from the machine's own, so on a
# machine with ip_forward=1 (Docker's, the VM lane's) every host would route (measured in
# the VM lane: "a non-router does not forward" failed until this).
#
# IPv6: no duplicate address detection anywhere, set before any link exists (an interface
# takes its settings from "default" when it is made, and a link-local address still
# "tentative" cannot send neighbour solicitations: measured, the first packet routed over
# IPv6 waited ~1 s). And the IPv6 trap (containerlab #2389, Ubuntu 24.04): with
# bridge-nf-call-ip6tables=1 an ip6 filter FORWARD policy of DROP on the host also drops
# the neighbour discovery that crosses its bridges, and IPv6 dies silently; neighbour and
# router discovery are accepted first in the host's ip6 FORWARD chain.
set -euo pipefail
# shellcheck source=lib.sh
. "${NSLAB_PROVISION_DIR:-$(dirname "$0")}/lib.sh"
need NSLAB_NETWORKS NSLAB_HOSTS NSLAB_INTERFACES

v6=${NSLAB_V6:-}
[ -z "$v6" ] || set_sysctl net.ipv6.conf.default.accept_dad=0 net.ipv6.conf.all.accept_dad=0
hosts=() settings=""
batch=""
# ICMP errors are never rate limited in a host (per namespace): with the kernel's defaults
# (one error a second per destination after a burst of 6) a router's REJECT answered the
# 6th probe in a row with nothing, and "rejected" read "dropped" from then on.
limits="net.ipv4.icmp_ratelimit=0"
[ -z "$v6" ] || limits+=" net.ipv6.icmp.ratelimit=0"
while read -r host router; do
  hosts+=("$host")
  settings+="netns exec $host sysctl -qw $limits"
  if [ -n "${NSLAB_ROUTING:-}" ]; then
    forward=0
    [ "$router" != 1 ] || forward=1
    settings+=" net.ipv4.ip_forward=$forward"
    [ -z "$v6" ] || settings+=" net.ipv6.conf.all.accept_dad=0 net.ipv6.conf.default.accept_dad=0"
    [ -z "$v6" ] || settings+=" net.ipv6.conf.all.forwarding=$forward"
  fi
  settings+=$'\n'
done <<<"$NSLAB_HOSTS"
# One ip for the namespaces, every host's settings (before any link is made in it) and
# the links (an ip each cost ~1.5 ms). Batches are built in variables and fed as
# here-strings: a `{ ...; } | ip` pipeline forks.
netns_lines "${hosts[@]}"
batch+=$settings
while read -r _net bridge addr addr6; do
  has_link "$bridge" || batch+="link add $bridge type bridge"$'\n'
  batch+="link set $bridge up"$'\n'
  [ "$addr" = - ] || batch+="addr replace $addr dev $bridge"$'\n'
  [ "$addr6" = - ] || batch+="addr replace $addr6 dev $bridge nodad"$'\n'
done <<<"$NSLAB_NETWORKS"
while read -r host ifname peer bridge _addr _addr6 mtu _extra; do
  has_link "$peer" || batch+="link add $peer type veth peer name $ifname netns $host"$'\n'
  [ "$mtu" = - ] || batch+="link set $peer mtu $mtu"$'\n' # both legs: the path has one MTU
  batch+="link set $peer master $bridge up"$'\n'
done <<<"$NSLAB_INTERFACES"
ip -batch - <<<"$batch"
# addresses_in HOST: lo and the host's legs up, with their addresses (one ip each, all
# hosts at once: each is mostly process start-up, ~1.8 ms).
addresses_in() {
  local host=$1 ihost ifname addr addr6 mtu extra more lines="link set lo up"$'\n'
  while read -r ihost ifname _peer _bridge addr addr6 mtu extra; do
    [ "$ihost" = "$host" ] || continue
    [ "$mtu" = - ] || lines+="link set $ifname mtu $mtu"$'\n'
    [ "$addr" = - ] || lines+="addr replace $addr dev $ifname"$'\n'
    [ "$addr6" = - ] || lines+="addr replace $addr6 dev $ifname nodad"$'\n'
    if [ "$extra" != - ]; then # more addresses, either family: secondaries, never a source
      while read -r -d, more; do # (IPv4 picks a subnet's first; IPv6 avoids a deprecated one)
        case $more in
          *:*) lines+="addr replace $more dev $ifname nodad preferred_lft 0"$'\n' ;;
          *) lines+="addr replace $more dev $ifname"$'\n' ;;
        esac
      done <<<"$extra,"
    fi
    lines+="link set $ifname up"$'\n'
  done <<<"$NSLAB_INTERFACES"
  ip -n "$host" -batch - <<<"$lines"
}
at_once addresses_in "${hosts[@]}"
# The hosts' own sysctls (rp_filter, accept_redirects, forwarding per interface), now that
# their interfaces exist: one ip for all of them.
if [ -n "${NSLAB_SYSCTLS:-}" ]; then
  batch=""
  while read -r host setting; do
    batch+="netns exec $host sysctl -qw $setting"$'\n'
  done <<<"$NSLAB_SYSCTLS"
  ip -batch - <<<"$batch"
fi
[ -n "$v6" ] || exit 0
saved=$(ip6tables-save -t filter 2>/dev/null || true)
pending=""
for kind in neighbour-solicitation neighbour-advertisement router-solicitation router-advertisement; do
  rule="-p ipv6-icmp -m icmp6 --icmpv6-type $kind -j ACCEPT"
  [[ $saved == *"-A FORWARD $rule"* ]] || pending+="-I FORWARD 1 $rule"$'\n'
done
[ -z "$pending" ] || ip6tables-restore -w --noflush <<<"*filter"$'\n'"${pending}COMMIT"
