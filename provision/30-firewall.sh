#!/usr/bin/env bash
# Stage firewall (SEED.md sections 2-3): FORWARD policy, and the custom chain that lets
# the lab subnet talk to itself, jumped to first and ending in RETURN.
set -euo pipefail
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
need NSLAB_CHAIN NSLAB_SUBNET NSLAB_FORWARD_POLICY

iptables -w -P FORWARD "$NSLAB_FORWARD_POLICY"
chain_exists "$NSLAB_CHAIN" || iptables -w -N "$NSLAB_CHAIN"
rule filter FORWARD 1 -j "$NSLAB_CHAIN"
rule filter "$NSLAB_CHAIN" append -j RETURN
rule filter "$NSLAB_CHAIN" 1 -s "$NSLAB_SUBNET" -d "$NSLAB_SUBNET" -j ACCEPT
