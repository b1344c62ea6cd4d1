#!/usr/bin/env bash
# Routed labs, stage 6: dnsmasq on the simulated internet answers NAME.DOMAIN with the
# server's IPv4 (A) and IPv6 (AAAA) addresses; every host gets a resolv.conf naming it.
set -euo pipefail
# shellcheck source=SCRIPTDIR/../lib.sh
. "${NSLAB_PROVISION_DIR:-$(dirname "$0")/..}/lib.sh"
need NSLAB_UPSTREAM_NS NSLAB_DNS NSLAB_DNS6 NSLAB_DOMAIN NSLAB_SERVER NSLAB_SERVER6 NSLAB_HOSTS

state=${NSLAB_STATE_DIR:-/run/nslab}
pidfile="$state/dnsmasq-$NSLAB_UPSTREAM_NS.pid"
mkdir -p "$state"
if ! { [ -s "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null; }; then
  ip netns exec "$NSLAB_UPSTREAM_NS" dnsmasq --conf-file=/dev/null --no-resolv --no-hosts \
    --bind-interfaces --listen-address="$NSLAB_DNS" --listen-address="$NSLAB_DNS6" --port=53 \
    --user= --group= --address="/$NSLAB_DOMAIN/$NSLAB_SERVER" --address="/$NSLAB_DOMAIN/$NSLAB_SERVER6" \
    --pid-file="$pidfile"
fi
while read -r host _router; do
  [ -d "/etc/netns/$host" ] || mkdir "/etc/netns/$host"
  printf 'nameserver %s\nnameserver %s\noptions timeout:1 attempts:2\n' "$NSLAB_DNS" "$NSLAB_DNS6" >"/etc/netns/$host/resolv.conf"
done <<<"$NSLAB_HOSTS"
