#!/usr/bin/env bash
# Routed labs, stage 1: bridged frames through iptables and ip6tables on the lab's host (so
# a ruleset there sees traffic crossing a network's bridge), as on a distribution kernel
# with br_netfilter loaded.
set -euo pipefail
# shellcheck source=SCRIPTDIR/../lib.sh
. "${NSLAB_PROVISION_DIR:-$(dirname "$0")/..}/lib.sh"

if [ ! -e /proc/sys/net/bridge/bridge-nf-call-iptables ]; then
  echo "nslab: bridge netfilter is not available (no /proc/sys/net/bridge); load it with 'modprobe br_netfilter' on a disposable machine (see nslab doctor)" >&2
  exit 69
fi
set_sysctl net.bridge.bridge-nf-call-iptables=1 net.bridge.bridge-nf-call-ip6tables=1
