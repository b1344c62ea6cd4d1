#!/usr/bin/env bash
# Stage dns: a resolver for each namespace (/etc/netns/NAME/resolv.conf, which
# `ip netns exec` binds over /etc/resolv.conf) and a DNS server on the simulated
# internet answering every name under the lab's domain with the public server's address.
set -euo pipefail
# shellcheck source=lib.sh
. "${NSLAB_PROVISION_DIR:-$(dirname "$0")}/lib.sh"
need NSLAB_UPSTREAM_NS NSLAB_DNS NSLAB_DOMAIN NSLAB_SERVER NSLAB_NAMESPACES

state=${NSLAB_STATE_DIR:-/run/nslab}
pidfile="$state/dnsmasq-$NSLAB_UPSTREAM_NS.pid"
dirs=()  # one mkdir for all (a process each cost ~2 ms)
[ -d "$state" ] || dirs+=("$state")
while read -r name _; do [ -d "/etc/netns/$name" ] || dirs+=("/etc/netns/$name"); done <<<"$NSLAB_NAMESPACES"
[ "${#dirs[@]}" -eq 0 ] || mkdir -p "${dirs[@]}"
if ! { [ -s "$pidfile" ] && kill -0 "$(<"$pidfile")" 2>/dev/null; }; then
  ip netns exec "$NSLAB_UPSTREAM_NS" dnsmasq --conf-file=/dev/null --no-resolv --no-hosts \
    --bind-interfaces --listen-address="$NSLAB_DNS" --port=53 --user= --group= \
    --address="/$NSLAB_DOMAIN/$NSLAB_SERVER" --pid-file="$pidfile"
fi
while read -r name _ifname _peer _addr; do
  printf 'nameserver %s\noptions timeout:1 attempts:2\n' "$NSLAB_DNS" >"/etc/netns/$name/resolv.conf"
done <<<"$NSLAB_NAMESPACES"
