#!/usr/bin/env bash
# Helpers shared by the provision stages. Sourced, never run. Every value a stage uses
# comes from NSLAB_* environment variables rendered by the lab model (nslab.provision).

# need VAR...: fail with the variable's name when a stage is run without its parameters.
need() {
  local var
  for var in "$@"; do
    if [ -z "${!var:-}" ]; then
      echo "nslab: $var is not set; run stages through nslab (or export it, see provision/README.md)" >&2
      exit 64
    fi
  done
}

# rule TABLE CHAIN POSITION RULE...: add an iptables rule once (idempotent). POSITION is a
# number to insert at, or "append".
rule() {
  local table=$1 chain=$2 pos=$3
  shift 3
  if iptables -w -t "$table" -C "$chain" "$@" 2>/dev/null; then
    return 0
  fi
  if [ "$pos" = append ]; then
    iptables -w -t "$table" -A "$chain" "$@"
  else
    iptables -w -t "$table" -I "$chain" "$pos" "$@"
  fi
}

# chain_exists CHAIN [TABLE]
chain_exists() {
  iptables -w -t "${2:-filter}" -S "$1" >/dev/null 2>&1
}

# ensure_netns NAME: a namespace with its loopback up.
ensure_netns() {
  [ -e "/run/netns/$1" ] || ip netns add "$1"
  ip -n "$1" link set lo up
}

# namespaces: one line per lab namespace: NAME IFNAME PEER ADDRESS/PREFIX
namespaces() {
  printf '%s\n' "$NSLAB_NAMESPACES"
}
