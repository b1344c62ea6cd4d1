#!/usr/bin/env bash
# Stage forward: the chain lets the lab out to the internet and lets replies back in
# (conntrack ESTABLISHED,RELATED). Without the nat stage the replies still get lost:
# the internet has no route to the lab's private subnet.
# when: firewall
set -euo pipefail
# shellcheck source=lib.sh
. "${NSLAB_PROVISION_DIR:-$(dirname "$0")}/lib.sh"
need NSLAB_CHAIN NSLAB_BRIDGE NSLAB_SUBNET

ensure_rules filter <<EOF_RULES
$NSLAB_CHAIN 1 -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
$NSLAB_CHAIN 2 -s $NSLAB_SUBNET -i $NSLAB_BRIDGE ! -o $NSLAB_BRIDGE -j ACCEPT
EOF_RULES
