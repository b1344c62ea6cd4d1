#!/usr/bin/env bash
# Stage sysctl (the seed story, docs/seed-story.md section 2): bridged frames go through
# iptables on the lab's host (and ip6tables where the lab has IPv6), so a rule there sees
# traffic crossing a bridge; and the host routes where it is a network's gateway.
# needs: bridge netfilter
set -euo pipefail
# shellcheck source=lib.sh
. "${NSLAB_PROVISION_DIR:-$(dirname "$0")}/lib.sh"

if [ ! -e /proc/sys/net/bridge/bridge-nf-call-iptables ]; then
  echo "nslab: bridge netfilter is not available (no /proc/sys/net/bridge); load it with 'modprobe br_netfilter' on a disposable machine (see nslab doctor)" >&2
  exit 69
fi
settings=(net.bridge.bridge-nf-call-iptables="${NSLAB_BRIDGE_NF:-1}")
[ -z "${NSLAB_V6:-}" ] || settings+=(net.bridge.bridge-nf-call-ip6tables=1)
[ -z "${NSLAB_GATEWAY:-}" ] || settings+=(net.ipv4.ip_forward="${NSLAB_IP_FORWARD:-1}")
# the lab's host answers with ICMP errors unthrottled, as every host does (20-networks.sh)
settings+=(net.ipv4.icmp_ratelimit=0)
[ -z "${NSLAB_V6:-}" ] || settings+=(net.ipv6.icmp.ratelimit=0)
# the lab file's own for the lab's host ([lab] sysctls) last: they may undo the ones above
# (br_netfilter.sh's bridge-nf-call-iptables=0 beside a bridge-family nft ruleset)
read -ra own <<<"${NSLAB_HOST_SYSCTLS:-}"
settings+=("${own[@]}")
set_sysctl "${settings[@]}"
