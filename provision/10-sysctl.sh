#!/usr/bin/env bash
# Stage sysctl (the seed story, docs/seed-story.md section 2): bridged frames go through iptables, and IPv4 is routed.
# needs: bridge netfilter
set -euo pipefail
# shellcheck source=lib.sh
. "${NSLAB_PROVISION_DIR:-$(dirname "$0")}/lib.sh"

if [ ! -e /proc/sys/net/bridge/bridge-nf-call-iptables ]; then
  echo "nslab: bridge netfilter is not available (no /proc/sys/net/bridge); load it with 'modprobe br_netfilter' on a disposable machine (see nslab doctor)" >&2
  exit 69
fi
set_sysctl net.bridge.bridge-nf-call-iptables="${NSLAB_BRIDGE_NF:-1}" \
  net.ipv4.ip_forward="${NSLAB_IP_FORWARD:-1}"
