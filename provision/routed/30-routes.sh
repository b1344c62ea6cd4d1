#!/usr/bin/env bash
# Routed labs, stage 3: each host's static routes ("default via 10.1.0.1", IPv6 too).
set -euo pipefail
# shellcheck source=SCRIPTDIR/../lib.sh
. "${NSLAB_PROVISION_DIR:-$(dirname "$0")/..}/lib.sh"
need NSLAB_HOSTS

[ -n "${NSLAB_ROUTES:-}" ] || exit 0
while read -r host family dst via; do
  ip -n "$host" "-$family" route replace "$dst" via "$via"
done <<<"$NSLAB_ROUTES"
