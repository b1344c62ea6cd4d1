#!/usr/bin/env bash
# Stage upstream: the simulated internet (DESIGN.md "The upstream"). An isp namespace on
# TEST-NET ranges, linked to the host by a veth pair; it holds the "public" server and
# DNS addresses and has no route back to the lab, so only NAT makes replies come home.
# It records the source address of every echo request it sees (xt_recent), so scenarios
# can show which address the internet saw.
set -euo pipefail
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
need NSLAB_UPSTREAM_NS NSLAB_UPLINK NSLAB_UPLINK_PEER NSLAB_UPLINK_ADDRESS \
  NSLAB_ISP_ADDRESS NSLAB_SERVER NSLAB_DNS

isp=$NSLAB_UPSTREAM_NS
ensure_netns "$isp"
if ! ip link show dev "$NSLAB_UPLINK" >/dev/null 2>&1; then
  ip link add "$NSLAB_UPLINK" type veth peer name "$NSLAB_UPLINK_PEER" netns "$isp"
fi
ip addr replace "$NSLAB_UPLINK_ADDRESS" dev "$NSLAB_UPLINK"
ip link set "$NSLAB_UPLINK" up
ip -n "$isp" addr replace "$NSLAB_ISP_ADDRESS" dev "$NSLAB_UPLINK_PEER"
ip -n "$isp" link set "$NSLAB_UPLINK_PEER" up
ip -n "$isp" addr replace "$NSLAB_SERVER/32" dev lo
ip -n "$isp" addr replace "$NSLAB_DNS/32" dev lo
ip route replace default via "${NSLAB_ISP_ADDRESS%/*}" dev "$NSLAB_UPLINK"
if ! ip netns exec "$isp" iptables -w -C INPUT -p icmp --icmp-type echo-request \
  -m recent --name nslab-seen --rsource --set 2>/dev/null; then
  ip netns exec "$isp" iptables -w -A INPUT -p icmp --icmp-type echo-request \
    -m recent --name nslab-seen --rsource --set
fi
