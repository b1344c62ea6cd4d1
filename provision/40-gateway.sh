#!/usr/bin/env bash
# Stage gateway (SEED.md section 4): the bridge becomes the lab's gateway, every namespace
# gets a default route through it, and the chain accepts traffic going out to the bridge.
set -euo pipefail
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
need NSLAB_BRIDGE NSLAB_GATEWAY NSLAB_CHAIN NSLAB_NAMESPACES

if ! chain_exists "$NSLAB_CHAIN"; then
  echo "nslab: chain $NSLAB_CHAIN does not exist; run the firewall stage first" >&2
  exit 65
fi
ip addr replace "$NSLAB_GATEWAY" dev "$NSLAB_BRIDGE"
while read -r name ifname _peer _addr; do
  ip -n "$name" route replace default via "${NSLAB_GATEWAY%/*}" dev "$ifname"
done < <(namespaces)
rule filter "$NSLAB_CHAIN" 2 -o "$NSLAB_BRIDGE" -j ACCEPT
