#!/usr/bin/env bash
# Stage upstream: the simulated internet (DESIGN.md "The upstream"). An isp namespace on
# TEST-NET ranges, linked to the host by a veth pair; it holds the "public" server and
# DNS addresses and has no route back to the lab, so only NAT makes replies come home.
# The host reaches those two addresses through the isp (host routes, not a default
# route: on a real VM the default route keeps serving its own uplink).
# It records the source address of every echo request it sees (xt_recent), so scenarios
# can show which address the internet saw.
set -euo pipefail
# shellcheck source=lib.sh
. "${NSLAB_PROVISION_DIR:-$(dirname "$0")}/lib.sh"
need NSLAB_UPSTREAM_NS NSLAB_UPLINK NSLAB_UPLINK_PEER NSLAB_UPLINK_ADDRESS \
  NSLAB_ISP_ADDRESS NSLAB_SERVER NSLAB_DNS

isp=$NSLAB_UPSTREAM_NS
ensure_netns "$isp"
{
  has_line "$(link_names)" "$NSLAB_UPLINK" ||
    echo "link add $NSLAB_UPLINK type veth peer name $NSLAB_UPLINK_PEER netns $isp"
  echo "addr replace $NSLAB_UPLINK_ADDRESS dev $NSLAB_UPLINK"
  echo "link set $NSLAB_UPLINK up"
  echo "route replace $NSLAB_SERVER/32 via ${NSLAB_ISP_ADDRESS%/*} dev $NSLAB_UPLINK"
  echo "route replace $NSLAB_DNS/32 via ${NSLAB_ISP_ADDRESS%/*} dev $NSLAB_UPLINK"
} | ip -batch -
printf '%s\n' "link set lo up" \
  "addr replace $NSLAB_ISP_ADDRESS dev $NSLAB_UPLINK_PEER" \
  "link set $NSLAB_UPLINK_PEER up" \
  "addr replace $NSLAB_SERVER/32 dev lo" \
  "addr replace $NSLAB_DNS/32 dev lo" | ip -n "$isp" -batch -
ensure_rules filter "$isp" <<EOF_RULES
INPUT append -p icmp -m icmp --icmp-type 8 -m recent --set --name nslab-seen --mask 255.255.255.255 --rsource
EOF_RULES
