#!/usr/bin/env bash
# when: rulesets
# Stage rulesets: the user's own firewall, per host, from the files the lab names
# (checked before anything ran): an iptables-restore file, an ip6tables-restore file, an
# nft -f file, or a bash script of theirs that gets the same NSLAB_* variables. Then no
# namespace may hold rules in two backends (iptables-legacy beside nf_tables): each would
# silently ignore the other (cilium #28260).
set -euo pipefail
# shellcheck source=lib.sh
. "${NSLAB_PROVISION_DIR:-$(dirname "$0")}/lib.sh"
need NSLAB_HOSTS

[ -n "${NSLAB_RULESETS:-}" ] || exit 0
legacy=""
[ "${NSLAB_BACKEND:-nft}" = legacy ] && legacy=-legacy
# Each line: HOST KIND FILE LOADER...: the loader is the firewall registry's for the kind
# and the lab's backend (nslab.firewall.RULESETS: iptables-restore --wait=30, nft -f, bash ...).
while read -r host kind file load; do
  read -ra loader <<<"$load"
  [ "${#loader[@]}" -gt 0 ] || { echo "nslab: no loader for $host's $kind ruleset" >&2; exit 64; }
  # from the file's own folder: nft reads a relative include (`include "./nat.nft"`) from
  # its working folder; nslab's copies name their includes' copies absolutely, but a file
  # loaded where it lies (Vagrant's stages, no nslab) is read as nft reads it there
  if [ "$host" = - ]; then # the lab's host: the world's root namespace
    (cd -- "$(dirname -- "$file")" && "${loader[@]}" "$PWD/${file##*/}")
  else
    (cd -- "$(dirname -- "$file")" && ip netns exec "$host" "${loader[@]}" "$PWD/${file##*/}")
  fi
done <<<"$NSLAB_RULESETS"
# Only where a mix can happen: a script of the user's (any tool), or the legacy backend
# beside an nft file. An nft file, or iptables files through one backend, cannot mix
# (the check costs ~15 ms a host: two listings in the namespace).
command -v iptables-legacy-save >/dev/null || exit 0
while read -r host kind _file _load; do
  [ "$kind" = script ] || { [ -n "$legacy" ] && [ "$kind" = nft ]; } || continue
  enter=(ip netns exec "$host")
  [ "$host" != - ] || enter=()
  legacy_rules=$("${enter[@]}" iptables-legacy-save 2>/dev/null || true)
  nft_rules=$("${enter[@]}" nft list ruleset 2>/dev/null || true)
  # a rule: an "-A CHAIN" line, or an indented nft statement that is not a declaration
  re_nft=$'\n[[:space:]]+(ct|ip|ip6|tcp|udp|iif|oif|iifname|oifname|meta|counter|jump|accept|drop|reject)'
  if [[ $'\n'$legacy_rules == *$'\n-A '* ]] && [[ $'\n'$nft_rules =~ $re_nft ]]; then
    echo "nslab: host $host has rules in two backends (iptables-legacy and nf_tables): each ignores the other; use one (firewall.backend)" >&2
    exit 65
  fi
done <<<"$NSLAB_RULESETS"
