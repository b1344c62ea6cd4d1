#!/usr/bin/env bash
# Stage gateway (the seed story, docs/seed-story.md section 4): the bridge becomes the lab's
# gateway, every host on it gets a default route through it, and the host's chain (where
# the lab has one) accepts traffic going out to the bridge:
#   ip a add 10.16.0.1/24 dev br0
#   ip netns exec red ip route add 0.0.0.0/0 via 10.16.0.1 dev veth1-red
#   iptables -I NAVY 2 -o br0 -j ACCEPT
# when: gateway
set -euo pipefail
# shellcheck source=lib.sh
. "${NSLAB_PROVISION_DIR:-$(dirname "$0")}/lib.sh"
need NSLAB_BRIDGE NSLAB_GATEWAY NSLAB_NAMESPACES

if [ -n "${NSLAB_CHAIN:-}" ]; then # the host's chain, where the lab has one
  ensure_rules filter <<EOF_RULES
require $NSLAB_CHAIN run the firewall stage first
$NSLAB_CHAIN 2 -o $NSLAB_BRIDGE -j ACCEPT
EOF_RULES
fi
# route_in "NAME IFNAME ...": the namespace's default route (NAME "-": the gateway address
# on the bridge). All at once: the routes need the address in each namespace, not the
# bridge's.
route_in() {
  local name ifname
  read -r name ifname _ <<<"$1"
  if [ "$name" = - ]; then
    ip addr replace "$NSLAB_GATEWAY" dev "$NSLAB_BRIDGE"
  else
    ip -n "$name" route replace default via "${NSLAB_GATEWAY%/*}" dev "$ifname"
  fi
}
mapfile -t rows <<<"$NSLAB_NAMESPACES"
at_once route_in - "${rows[@]}"
