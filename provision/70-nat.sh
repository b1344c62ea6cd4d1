#!/usr/bin/env bash
# Stage nat (the draft's closing notes): traffic from the lab leaving by any other
# interface than the bridge is masqueraded behind the host's uplink address:
#   iptables -t nat -A POSTROUTING -s 10.16.0.0/24 ! -o br0 -j MASQUERADE
# when: firewall
set -euo pipefail
# shellcheck source=lib.sh
. "${NSLAB_PROVISION_DIR:-$(dirname "$0")}/lib.sh"
need NSLAB_BRIDGE NSLAB_SUBNET

ensure_rules nat <<EOF_RULES
POSTROUTING append -s $NSLAB_SUBNET ! -o $NSLAB_BRIDGE -j MASQUERADE
EOF_RULES
