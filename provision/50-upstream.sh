#!/usr/bin/env bash
# Stage upstream: the simulated internet (docs/design.md, "The upstream"). An isp namespace
# on documentation ranges (IPv6 too where the lab has it), linked by a veth pair to the
# lab's host or to one host (`via`, a router); it holds the "public" server and DNS
# addresses and routes back, as the real internet does, to the lab's public networks only
# (NSLAB_PUBLIC_PREFIXES: global IPv6, public IPv4) through the uplink, never to a private
# IPv4 range: from there only NAT makes replies come home. The
# uplink's side reaches those addresses through the isp by host routes, not a default
# route (on a real VM the default route keeps serving its own uplink). The isp records
# the source address of every echo request it sees (xt_recent), so scenarios can show
# which address the internet saw.
# when: upstream
set -euo pipefail
# shellcheck source=lib.sh
. "${NSLAB_PROVISION_DIR:-$(dirname "$0")}/lib.sh"
need NSLAB_UPSTREAM_NS NSLAB_UPLINK NSLAB_UPLINK_PEER NSLAB_UPLINK_ADDRESS \
  NSLAB_ISP_ADDRESS NSLAB_SERVER NSLAB_DNS

isp=$NSLAB_UPSTREAM_NS
via=${NSLAB_UPSTREAM_VIA:-}
v6=${NSLAB_ISP_ADDRESS6:-}
link="link add $NSLAB_UPLINK type veth peer name $NSLAB_UPLINK_PEER netns $isp"
batch=""
netns_lines "$isp"
limits="net.ipv4.icmp_ratelimit=0" # ICMP errors unthrottled, as in every host (20-networks.sh)
[ -z "$v6" ] || limits+=" net.ipv6.icmp.ratelimit=0 net.ipv6.conf.all.accept_dad=0 net.ipv6.conf.default.accept_dad=0"
batch+="netns exec $isp sysctl -qw $limits"$'\n'
if [ -z "$via" ]; then # the lab's host: the namespace, the link and its side in one ip
  has_link "$NSLAB_UPLINK" || batch+=$link$'\n'
  uplink_lines
  ip -batch - <<<"$batch"
else
  [ -z "$batch" ] || ip -batch - <<<"$batch"
  batch=""
  has_line "$(links_in "$via")" "$NSLAB_UPLINK" || batch+=$link$'\n'
  uplink_lines
  ip -n "$via" -batch - <<<"$batch"
fi
batch=""
isp_lines
for prefix in ${NSLAB_PUBLIC_PREFIXES:-}; do
  if [[ $prefix == *:* ]]; then
    [ -z "$v6" ] || lines "route replace $prefix via ${NSLAB_UPLINK_ADDRESS6%/*} dev $NSLAB_UPLINK_PEER"
  else
    lines "route replace $prefix via ${NSLAB_UPLINK_ADDRESS%/*} dev $NSLAB_UPLINK_PEER"
  fi
done
ip -n "$isp" -batch - <<<"$batch"
if [ -n "$v6" ]; then record_pings "$isp" v6; else record_pings "$isp"; fi
