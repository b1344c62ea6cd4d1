#!/usr/bin/env bash
# Stage dns: a resolver for each host (/etc/netns/NAME/resolv.conf, which `ip netns exec`
# binds over /etc/resolv.conf) and dnsmasq on the simulated internet answering every name
# under the lab's domain with the public server's address (A, and AAAA where the lab has
# IPv6).
# when: dns
set -euo pipefail
# shellcheck source=lib.sh
. "${NSLAB_PROVISION_DIR:-$(dirname "$0")}/lib.sh"
need NSLAB_UPSTREAM_NS NSLAB_DNS NSLAB_DOMAIN NSLAB_SERVER NSLAB_HOSTS

names=()
while read -r name _; do names+=("$name"); done <<<"$NSLAB_HOSTS"
serve_dns "${names[@]}"
