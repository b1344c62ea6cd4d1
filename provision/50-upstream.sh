#!/usr/bin/env bash
# Stage upstream: the simulated internet (docs/design.md, "The upstream"). An isp namespace on
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
batch=""
netns_lines "$isp"
has_link "$NSLAB_UPLINK" ||
  batch+="link add $NSLAB_UPLINK type veth peer name $NSLAB_UPLINK_PEER netns $isp"$'\n'
uplink_lines
ip -batch - <<<"$batch"
batch=""
isp_lines
ip -n "$isp" -batch - <<<"$batch"
record_pings "$isp"
