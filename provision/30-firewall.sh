#!/usr/bin/env bash
# Stage firewall (docs/seed-story.md, sections 2-3): the FORWARD policy, and the custom chain that
# lets the lab subnet talk to itself, jumped to first and ending in RETURN:
#   iptables -P FORWARD DROP; iptables -N NAVY; iptables -I FORWARD 1 -j NAVY
#   iptables -A NAVY -j RETURN; iptables -I NAVY 1 -s 10.16.0.0/24 -d 10.16.0.0/24 -j ACCEPT
# when: firewall
set -euo pipefail
# shellcheck source=lib.sh
. "${NSLAB_PROVISION_DIR:-$(dirname "$0")}/lib.sh"
need NSLAB_CHAIN NSLAB_SUBNET NSLAB_FORWARD_POLICY

ensure_rules filter <<EOF_RULES
policy FORWARD $NSLAB_FORWARD_POLICY
chain $NSLAB_CHAIN
FORWARD 1 -j $NSLAB_CHAIN
$NSLAB_CHAIN append -j RETURN
$NSLAB_CHAIN 1 -s $NSLAB_SUBNET -d $NSLAB_SUBNET -j ACCEPT
EOF_RULES
