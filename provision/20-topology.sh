#!/usr/bin/env bash
# Stage topology (the base lab): one namespace per lab host, a veth pair each, one leg in
# the namespace with its address, the other leg on the host's bridge. Equivalent to:
#   ip netns add red; ip link add br0 type bridge; ip link set br0 up
#   ip link add veth0-red type veth peer name veth1-red netns red
#   ip link set veth0-red master br0 up
#   ip -n red addr add 10.16.0.2/24 dev veth1-red; ip -n red link set veth1-red up
set -euo pipefail
# shellcheck source=lib.sh
. "${NSLAB_PROVISION_DIR:-$(dirname "$0")}/lib.sh"
need NSLAB_BRIDGE NSLAB_NAMESPACES

names=()
while read -r name _; do names+=("$name"); done <<<"$NSLAB_NAMESPACES"
# Batches built in a variable and fed as here-strings: a `{ ...; } | ip` pipeline forks.
batch=""
netns_lines "${names[@]}"
has_link "$NSLAB_BRIDGE" || batch+="link add $NSLAB_BRIDGE type bridge"$'\n'
batch+="link set $NSLAB_BRIDGE up"$'\n'
while read -r name ifname peer _addr; do
  has_link "$peer" || batch+="link add $peer type veth peer name $ifname netns $name"$'\n'
  batch+="link set $peer master $NSLAB_BRIDGE up"$'\n'
done <<<"$NSLAB_NAMESPACES"
ip -batch - <<<"$batch"
# address_in "NAME IFNAME PEER ADDRESS": lo and the namespace's leg up, with its address.
address_in() {
  local name ifname addr
  read -r name ifname _ addr <<<"$1"
  ip -n "$name" -batch - <<<"link set lo up"$'\n'"addr replace $addr dev $ifname"$'\n'"link set $ifname up"
}
mapfile -t rows <<<"$NSLAB_NAMESPACES"
at_once address_in "${rows[@]}"
