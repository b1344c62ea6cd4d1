#!/usr/bin/env bash
# Routed labs, stage 4: the simulated internet, dual-stack, hanging off one host (a
# router) or the lab's host: an isp namespace on documentation ranges, a server and a DNS
# address on its loopback, host routes to them from the uplink's side, and no route back
# into the lab (as on the real internet: only NAT gets replies home).
set -euo pipefail
# shellcheck source=SCRIPTDIR/../lib.sh
. "${NSLAB_PROVISION_DIR:-$(dirname "$0")/..}/lib.sh"
need NSLAB_UPSTREAM_NS NSLAB_UPLINK NSLAB_UPLINK_PEER NSLAB_UPLINK_ADDRESS NSLAB_UPLINK_ADDRESS6 \
  NSLAB_ISP_ADDRESS NSLAB_ISP_ADDRESS6 NSLAB_SERVER NSLAB_SERVER6 NSLAB_DNS NSLAB_DNS6

isp=$NSLAB_UPSTREAM_NS
via=${NSLAB_UPSTREAM_VIA:-}
ensure_netns "$isp"
ip netns exec "$isp" sysctl -qw net.ipv6.conf.all.accept_dad=0 net.ipv6.conf.default.accept_dad=0
in_via=()
[ -z "$via" ] || in_via=(-n "$via")
links=$(links_in "$via")
has_line "$links" "$NSLAB_UPLINK" ||
  ip "${in_via[@]}" link add "$NSLAB_UPLINK" type veth peer name "$NSLAB_UPLINK_PEER" netns "$isp"
batch=""
uplink_lines
ip "${in_via[@]}" -batch - <<<"$batch"
batch=""
isp_lines
ip -n "$isp" -batch - <<<"$batch"
record_pings "$isp" v6
