#!/usr/bin/env bash
# Routed labs, stage 5: the user's own firewall, per host, from the files the lab names
# (checked before anything ran): an iptables-restore file, an ip6tables-restore file, an
# nft -f file, or a bash script of theirs that gets the same NSLAB_* variables. Then no
# namespace may hold rules in two backends (iptables-legacy beside nf_tables): each would
# silently ignore the other (cilium #28260).
set -euo pipefail
# shellcheck source=SCRIPTDIR/../lib.sh
. "${NSLAB_PROVISION_DIR:-$(dirname "$0")/..}/lib.sh"
need NSLAB_HOSTS

[ -n "${NSLAB_RULESETS:-}" ] || exit 0
legacy=""
[ "${NSLAB_BACKEND:-nft}" = legacy ] && legacy=-legacy
while read -r host kind file; do
  case $kind in
    iptables) ip netns exec "$host" "iptables$legacy-restore" -w <"$file" ;;
    ip6tables) ip netns exec "$host" "ip6tables$legacy-restore" -w <"$file" ;;
    nft) ip netns exec "$host" nft -f "$file" ;;
    script) ip netns exec "$host" bash "$file" ;;
    *) echo "nslab: unknown ruleset kind '$kind' for $host" >&2; exit 64 ;;
  esac
done <<<"$NSLAB_RULESETS"
while read -r host _kind _file; do
  command -v iptables-legacy-save >/dev/null || break
  legacy_rules=$(ip netns exec "$host" iptables-legacy-save 2>/dev/null | grep -c '^-A' || true)
  nft_rules=$(ip netns exec "$host" nft list ruleset 2>/dev/null | grep -cE '^\s+(ct|ip|tcp|udp|iif|oif|meta|counter|jump|accept|drop|reject)' || true)
  if [ "${legacy_rules:-0}" -gt 0 ] && [ "${nft_rules:-0}" -gt 0 ]; then
    echo "nslab: host $host has rules in two backends (iptables-legacy and nf_tables): each ignores the other; use one (firewall.backend)" >&2
    exit 65
  fi
done <<<"$NSLAB_RULESETS"
