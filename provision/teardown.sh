#!/usr/bin/env bash
# Teardown: undo every stage, in reverse, on a machine's real root namespace (`@host`
# scenarios and the Vagrant lab). Worlds never need it: ending a world frees everything.
# Idempotent: safe on a half-built lab or a clean machine. Sysctls are left as they are.
set -euo pipefail
# shellcheck source=lib.sh
. "${NSLAB_PROVISION_DIR:-$(dirname "$0")}/lib.sh"
need NSLAB_BRIDGE NSLAB_CHAIN NSLAB_SUBNET NSLAB_NAMESPACES NSLAB_UPSTREAM_NS NSLAB_UPLINK

state=${NSLAB_STATE_DIR:-/run/nslab}
pidfile="$state/dnsmasq-$NSLAB_UPSTREAM_NS.pid"
if [ -s "$pidfile" ]; then
  kill "$(cat "$pidfile")" 2>/dev/null || true
  rm -f "$pidfile"
fi
rm -f "$state"/rules.* # the queue files of a run.sh that was killed (it removes its own)

# unrule TABLE CHAIN RULE...: remove every copy of a rule, if any.
unrule() {
  local table=$1 chain=$2
  shift 2
  while iptables -w -t "$table" -C "$chain" "$@" 2>/dev/null; do
    iptables -w -t "$table" -D "$chain" "$@"
  done
}
unrule nat POSTROUTING -s "$NSLAB_SUBNET" ! -o "$NSLAB_BRIDGE" -j MASQUERADE
unrule filter FORWARD -j "$NSLAB_CHAIN"
if iptables -w -S "$NSLAB_CHAIN" >/dev/null 2>&1; then
  iptables -w -F "$NSLAB_CHAIN"
  iptables -w -X "$NSLAB_CHAIN"
fi
iptables -w -P FORWARD ACCEPT

ip link del "$NSLAB_UPLINK" 2>/dev/null || true  # its routes to the isp go with it
[ -e "/run/netns/$NSLAB_UPSTREAM_NS" ] && ip netns del "$NSLAB_UPSTREAM_NS"
while read -r name _ifname peer _addr; do
  [ -e "/run/netns/$name" ] && ip netns del "$name"
  ip link del "$peer" 2>/dev/null || true
  rm -rf "/etc/netns/${name:?}"
done <<<"$NSLAB_NAMESPACES"
ip link del "$NSLAB_BRIDGE" 2>/dev/null || true
