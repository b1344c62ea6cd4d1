#!/usr/bin/env bash
# Routed labs, stage 6: dnsmasq on the simulated internet answers NAME.DOMAIN with the
# server's IPv4 (A) and IPv6 (AAAA) addresses; every host gets a resolv.conf naming it.
set -euo pipefail
# shellcheck source=SCRIPTDIR/../lib.sh
. "${NSLAB_PROVISION_DIR:-$(dirname "$0")/..}/lib.sh"
need NSLAB_UPSTREAM_NS NSLAB_DNS NSLAB_DNS6 NSLAB_DOMAIN NSLAB_SERVER NSLAB_SERVER6 NSLAB_HOSTS

names=()
while read -r name _; do names+=("$name"); done <<<"$NSLAB_HOSTS"
serve_dns "${names[@]}"
