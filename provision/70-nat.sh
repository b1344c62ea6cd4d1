#!/usr/bin/env bash
# Stage nat (the draft's closing notes): traffic from the lab leaving by any other
# interface than the bridge is masqueraded behind the host's uplink address.
set -euo pipefail
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
need NSLAB_BRIDGE NSLAB_SUBNET

rule nat POSTROUTING append -s "$NSLAB_SUBNET" ! -o "$NSLAB_BRIDGE" -j MASQUERADE
