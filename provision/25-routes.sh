#!/usr/bin/env bash
# when: routes
# Stage routes: each host's static routes ("default via 10.1.0.1", IPv6 too).
set -euo pipefail
# shellcheck source=lib.sh
. "${NSLAB_PROVISION_DIR:-$(dirname "$0")}/lib.sh"
need NSLAB_HOSTS

[ -n "${NSLAB_ROUTES:-}" ] || exit 0
# One `ip -batch` per host (the family follows from the gateway's address).
declare -A batch=()
order=()
while read -r host _family dst via; do
  [ -n "${batch[$host]+set}" ] || order+=("$host")
  batch[$host]+="route replace $dst via $via"$'\n'
done <<<"$NSLAB_ROUTES"
for host in "${order[@]}"; do
  ip -n "$host" -batch - <<<"${batch[$host]}"
done
