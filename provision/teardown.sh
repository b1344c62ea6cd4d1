#!/usr/bin/env bash
# Teardown: undo every stage, in reverse, on a machine's real root namespace (`@host`
# scenarios and the Vagrant lab). Worlds never need it: ending a world frees everything.
# Idempotent: safe on a half-built lab or a clean machine. Sysctls are left as they are.
# It undoes what the lab declares: the simulated internet, the host's chain and NAT where
# the lab has them (NSLAB_CHAIN), the hosts, the bridges, the neighbour-discovery rules.
set -euo pipefail
# shellcheck source=lib.sh
. "${NSLAB_PROVISION_DIR:-$(dirname "$0")}/lib.sh"
need NSLAB_UPSTREAM_NS NSLAB_UPLINK

state=${NSLAB_STATE_DIR:-/run/nslab}
pidfile="$state/dnsmasq-$NSLAB_UPSTREAM_NS.pid"
if [ -s "$pidfile" ]; then
  kill "$(cat "$pidfile")" 2>/dev/null || true
  rm -f "$pidfile"
fi
rm -f "$state"/rules.* # the queue files of a run.sh that was killed (it removes its own)
# ufw's and firewalld's hosts (56-managers.sh): their daemons and holders, by the PIDs it
# kept (in a world its PID namespace ends them), then their folders
while read -r _host _kind dir; do
  if [ -z "${dir:-}" ] || [ ! -e "$dir/pids" ]; then continue; fi
  while read -r _what pid; do kill "$pid" 2>/dev/null || true; done <"$dir/pids"
  rm -rf "$dir"
done <<<"${NSLAB_MANAGERS:-}"

# unrule TABLE CHAIN RULE...: remove every copy of a rule, if any.
unrule() {
  local table=$1 chain=$2
  shift 2
  while iptables -w -t "$table" -C "$chain" "$@" 2>/dev/null; do
    iptables -w -t "$table" -D "$chain" "$@"
  done
}

ip link del "$NSLAB_UPLINK" 2>/dev/null || true  # its routes to the isp go with it
[ -e "/run/netns/$NSLAB_UPSTREAM_NS" ] && ip netns del "$NSLAB_UPSTREAM_NS"

if [ -n "${NSLAB_CHAIN:-}" ]; then # the host's chain and NAT, where the lab has them
  need NSLAB_SUBNET NSLAB_BRIDGE
  unrule nat POSTROUTING -s "$NSLAB_SUBNET" ! -o "$NSLAB_BRIDGE" -j MASQUERADE
  unrule filter FORWARD -j "$NSLAB_CHAIN"
  if iptables -w -S "$NSLAB_CHAIN" >/dev/null 2>&1; then
    iptables -w -F "$NSLAB_CHAIN"
    iptables -w -X "$NSLAB_CHAIN"
  fi
  iptables -w -P FORWARD ACCEPT
fi
need NSLAB_HOSTS NSLAB_NETWORKS NSLAB_INTERFACES
while read -r _host _ifname peer _rest; do # the hosts, with their legs; the bridges
  ip link del "$peer" 2>/dev/null || true
done <<<"$NSLAB_INTERFACES"
while read -r host _router; do
  [ -e "/run/netns/$host" ] && ip netns del "$host"
  rm -rf "/etc/netns/${host:?}"
done <<<"$NSLAB_HOSTS"
while read -r _name bridge _rest; do
  ip link del "$bridge" 2>/dev/null || true
done <<<"$NSLAB_NETWORKS"
rm -rf "$state/rulesets" # nslab's copies of the user's ruleset files
for kind in 133 134 135 136; do # the networks stage's neighbour-discovery rules
  while ip6tables -w -C FORWARD -p ipv6-icmp -m icmp6 --icmpv6-type "$kind" -j ACCEPT 2>/dev/null; do
    ip6tables -w -D FORWARD -p ipv6-icmp -m icmp6 --icmpv6-type "$kind" -j ACCEPT
  done
done
