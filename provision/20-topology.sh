#!/usr/bin/env bash
# Stage topology (the base lab): one namespace per lab host, a veth pair each, one leg in
# the namespace with its address, the other leg on the host's bridge.
set -euo pipefail
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
need NSLAB_BRIDGE NSLAB_NAMESPACES

ip link show dev "$NSLAB_BRIDGE" >/dev/null 2>&1 || ip link add "$NSLAB_BRIDGE" type bridge
ip link set "$NSLAB_BRIDGE" up
while read -r name ifname peer addr; do
  ensure_netns "$name"
  if ! ip -n "$name" link show dev "$ifname" >/dev/null 2>&1; then
    ip link add "$peer" type veth peer name "$ifname" netns "$name"
  fi
  ip link set "$peer" master "$NSLAB_BRIDGE" up
  ip -n "$name" addr replace "$addr" dev "$ifname"
  ip -n "$name" link set "$ifname" up
done < <(namespaces)
