#!/usr/bin/env bash
# Helpers shared by the provision stages. Sourced, never run. Every value a stage uses
# comes from NSLAB_* environment variables rendered by the lab model (nslab.machine.provision).
# Speed matters (a fresh lab per scenario), so stages batch their work: one `ip -batch`
# per namespace and one `iptables-restore --noflush` per table, after one look at what
# is already there, which also makes every stage idempotent.

# A command that fails half-way through a stage names the stage, the line and the command
# (set -e alone ends the stage silently, and the caller saw only "stage X failed").
set -o errtrace # functions too
trap 'echo "nslab: ${NSLAB_STAGE:-${0##*/}} line $LINENO: \`$BASH_COMMAND\` failed (exit $?)" >&2' ERR

# need VAR...: fail with the variable's name when a stage is run without its parameters.
need() {
  local var
  for var in "$@"; do
    if [ -z "${!var:-}" ]; then
      echo "nslab: $var is not set; run stages through nslab (see provision/README.md)" >&2
      exit 64
    fi
  done
}

# NSLAB_NAMESPACES: one line per lab namespace: NAME IFNAME PEER ADDRESS/PREFIX. Loops
# read it from a here-string, not `< <(...)`: a process substitution forks (~1.5 ms each).

# netns_lines NAME...: append to the variable batch a `netns add` line for each namespace
# that does not exist yet (this stage then knows it holds no rules: NSLAB_FRESH_NS). The
# batch may go on with the links into them: `ip -batch` returns to its own namespace after
# each `netns add` (an `ip netns add` process each cost ~2.5 ms, an ip -batch of its own ~2).
netns_lines() {
  local ns
  for ns in "$@"; do
    [ -e "/run/netns/$ns" ] || { batch+="netns add $ns"$'\n' && NSLAB_FRESH_NS+=" $ns "; }
  done
}

# ensure_netns NAME...: create the namespaces that do not exist yet, in one `ip -batch`.
ensure_netns() {
  local batch=""
  netns_lines "$@"
  [ -z "$batch" ] || ip -batch - <<<"$batch"
}

# at_once FUNCTION ARG...: `FUNCTION ARG` for every ARG at the same time, in the
# background, then wait for all; fails naming the ARGs whose call failed (a failing
# command inside still names its line). For one command per namespace: each is mostly
# process start-up (~1.8 ms for `ip -n`), and two cores start two at a time.
at_once() {
  local fn=$1 arg pid failed=""
  local -A of=()
  shift
  for arg in "$@"; do
    "$fn" "$arg" &
    of[$!]=$arg
  done
  for pid in "${!of[@]}"; do wait "$pid" || failed+=" ${of[$pid]%% *}"; done
  [ -z "$failed" ] || {
    echo "nslab: ${NSLAB_STAGE:-$fn}: $fn failed for$failed" >&2
    return 1
  }
}

# has_link NAME: the current namespace has an interface NAME. Every interface gets an IPv4
# settings folder in this namespace's /proc/sys view, so no `ip link` process (~2 ms).
has_link() {
  [ -e "/proc/sys/net/ipv4/conf/$1" ]
}

# links_in NS: the interface names of namespace NS (the host's when NS is empty).
links_in() {
  local line name listing
  if [ -n "$1" ]; then listing=$(ip -n "$1" -o link show); else listing=$(ip -o link show); fi
  while read -r line; do
    name=${line#*: }
    name=${name%%:*}
    printf '%s\n' "${name%@*}"
  done <<<"$listing"
}

# set_sysctl KEY=VALUE...: as `sysctl -qw`, by writing /proc/sys, without a process.
set_sysctl() {
  local kv key
  for kv in "$@"; do
    key=${kv%%=*}
    printf '%s\n' "${kv#*=}" >"/proc/sys/${key//.//}"
  done
}

# has_line TEXT LINE: TEXT contains LINE as a whole line (no subprocess).
has_line() {
  [[ $'\n'$1$'\n' == *$'\n'"$2"$'\n'* ]]
}

# read_into VAR FILE: FILE's whole text into VAR, without a process (`$(<FILE)` forks).
read_into() {
  IFS= read -r -d '' "$1" <"$2" || true
}

# ensure_rules TABLE [NS]: read wanted rules from stdin, one per line, as
#   CHAIN POSITION RULE...     (POSITION: a number to insert at, or "append")
# and add those iptables-save does not show yet. A line "chain NAME" declares a user chain,
# "policy CHAIN TARGET" sets a built-in's policy, "require NAME WHY..." fails (65) with WHY
# unless chain NAME exists already. RULE must be written the way iptables-save prints it,
# so the check matches.
# Alone, a stage loads its rules at once (one iptables-restore). Under run.sh (NSLAB_RULES
# set, a file prefix), a namespace's ruleset is read once per run: PREFIX.NS.saved holds
# its iptables-save, PREFIX.NS.TABLE what the run's stages added since, and the restore
# lines queue in PREFIX.NS.pending, each stage's under a "# stage" line, for run.sh to
# load (see its comment for why and what that saves).
ensure_rules() {
  local table=$1 ns=${2:-} key=${2:-@host} prefix=${NSLAB_RULES:-} saved="" added=""
  local pending="" seen="" chain pos spec
  local -a in_ns=()
  # nsenter, not `ip netns exec`: no private mounts to make (~1.5 ms less a call)
  [ -n "$ns" ] && in_ns=(nsenter "--net=/run/netns/$ns")
  if [[ -n $ns && ${NSLAB_FRESH_NS:-} == *" $ns "* ]]; then
    # a namespace this stage made has no rules yet: no iptables-save (~3.5 ms)
    [ -z "$prefix" ] || : >"$prefix.$key.saved"
  elif [ -z "$prefix" ]; then
    saved=$("${in_ns[@]}" iptables-save -t "$table")
  else
    [ -e "$prefix.$key.saved" ] || "${in_ns[@]}" iptables-save >"$prefix.$key.saved"
    read_into saved "$prefix.$key.saved"
    saved=$'\n'$saved$'\n'
    if [[ $saved == *$'\n'"*$table"$'\n'* ]]; then # this table's part of the listing
      saved=${saved#*$'\n'"*$table"$'\n'}
      saved=$'\n'${saved%%$'\n'COMMIT$'\n'*}
    else
      saved=""
    fi
    [ ! -e "$prefix.$key.$table" ] || read_into added "$prefix.$key.$table"
    saved+=$'\n'$added
  fi
  while read -r chain pos spec; do
    case $chain in
      "" | "#"*) ;;
      require) # a chain an earlier stage made: fail before changing anything
        [[ $saved == *$'\n'":$pos "* ]] || {
          echo "nslab: chain $pos does not exist; $spec" >&2
          return 65
        } ;;
      chain)
        has_line "$saved" ":$pos - [0:0]" || [[ $saved == *$'\n'":$pos "* ]] || {
          pending+=":$pos - [0:0]"$'\n'
          seen+=":$pos - [0:0]"$'\n'
        } ;;
      # A policy is set through iptables-restore even where nft could make the chain with
      # it for a third of the cost: only iptables-nft's chains count packets for the
      # policy, and "dropped by FORWARD policy DROP (+3 packets)" reads that counter.
      policy)
        [[ $saved == *$'\n'":$pos $spec "* ]] || {
          pending+=":$pos $spec [0:0]"$'\n'
          seen+=":$pos $spec [0:0]"$'\n'
        } ;;
      *)
        has_line "$saved" "-A $chain $spec" && continue
        seen+="-A $chain $spec"$'\n'
        if [ "$pos" = append ]; then
          pending+="-A $chain $spec"$'\n'
        else
          pending+="-I $chain $pos $spec"$'\n'
        fi
        ;;
    esac
  done
  [ -n "$pending" ] || return 0
  if [ -z "$prefix" ]; then
    "${in_ns[@]}" iptables-restore -w --noflush <<<"*$table"$'\n'"${pending}COMMIT"
  else
    printf '%s' "$seen" >>"$prefix.$key.$table"
    printf '# stage %s\n*%s\n%sCOMMIT\n' "${NSLAB_STAGE:-?}" "$table" "$pending" >>"$prefix.$key.pending"
  fi
}

# The simulated internet, shared by the seed's and the routed labs' upstream stages;
# IPv6 where the lab gives the isp an IPv6 address (routed labs), else IPv4 only. Both
# helpers append `ip -batch` lines to the variable batch, which a stage feeds to ip as a
# here-string (a `helper | ip -batch -` pipeline forks: ~1 ms).
# uplink_lines: the uplink's side (addresses, host routes to the server and the DNS
# address through the isp; no route back into the lab).
uplink_lines() {
  local isp4=${NSLAB_ISP_ADDRESS%/*} isp6=${NSLAB_ISP_ADDRESS6:-}
  lines "addr replace $NSLAB_UPLINK_ADDRESS dev $NSLAB_UPLINK" "link set $NSLAB_UPLINK up" \
    "route replace $NSLAB_SERVER/32 via $isp4 dev $NSLAB_UPLINK" \
    "route replace $NSLAB_DNS/32 via $isp4 dev $NSLAB_UPLINK"
  [ -z "$isp6" ] || lines "addr replace $NSLAB_UPLINK_ADDRESS6 dev $NSLAB_UPLINK nodad" \
    "route replace $NSLAB_SERVER6/128 via ${isp6%/*} dev $NSLAB_UPLINK" \
    "route replace $NSLAB_DNS6/128 via ${isp6%/*} dev $NSLAB_UPLINK"
}

# isp_lines: the isp's side (for `ip -n ISP`): its end of the uplink, the server and the
# DNS address on its loopback.
isp_lines() {
  local isp6=${NSLAB_ISP_ADDRESS6:-}
  lines "link set lo up" "addr replace $NSLAB_ISP_ADDRESS dev $NSLAB_UPLINK_PEER" \
    "link set $NSLAB_UPLINK_PEER up" "addr replace $NSLAB_SERVER/32 dev lo" "addr replace $NSLAB_DNS/32 dev lo"
  [ -z "$isp6" ] || lines "addr replace $isp6 dev $NSLAB_UPLINK_PEER nodad" \
    "addr replace $NSLAB_SERVER6/128 dev lo" "addr replace $NSLAB_DNS6/128 dev lo"
}

# lines LINE...: append each LINE to the variable batch.
lines() {
  local line
  for line in "$@"; do batch+=$line$'\n'; done
}

# record_pings ISP [v6]: the isp remembers who pinged it (xt_recent, read by "saw pings
# from"), with v6 over IPv6 too: in a table of its own, nslab-seen6 (sharing nslab-seen kept
# the IPv4 rule's 32-bit mask and recorded every IPv6 source as ::, measured).
record_pings() {
  ensure_rules filter "$1" <<EOF_RULES
INPUT append -p icmp -m icmp --icmp-type 8 -m recent --set --name nslab-seen --mask 255.255.255.255 --rsource
EOF_RULES
  [ "${2:-}" = v6 ] || return 0
  local -a seen6=(INPUT -p ipv6-icmp -m icmp6 --icmpv6-type 128 -m recent --set --name nslab-seen6 --rsource)
  # a namespace this stage made holds no rule yet: no check (each ip6tables costs ~4 ms)
  [[ ${NSLAB_FRESH_NS:-} == *" $1 "* ]] ||
    ! nsenter "--net=/run/netns/$1" ip6tables -w -C "${seen6[@]}" 2>/dev/null ||
    return 0
  nsenter "--net=/run/netns/$1" ip6tables -w -A "${seen6[@]}"
}

# serve_dns NAME...: dnsmasq on the simulated internet (one per lab; its pid file says
# whether it runs) answers every name under the lab's domain with the server's address,
# and its IPv6 one where the lab has it; namespaces NAME... get a resolv.conf naming it
# (`ip netns exec` binds /etc/netns/NAME/resolv.conf over /etc/resolv.conf).
serve_dns() {
  local state=${NSLAB_STATE_DIR:-/run/nslab} dns6=${NSLAB_DNS6:-} pidfile name started=""
  local conf="nameserver $NSLAB_DNS"$'\n'
  local -a dirs=() serve=(--listen-address="$NSLAB_DNS" --address="/$NSLAB_DOMAIN/$NSLAB_SERVER")
  if [ -n "$dns6" ]; then
    serve+=(--listen-address="$dns6" --address="/$NSLAB_DOMAIN/$NSLAB_SERVER6")
    conf+="nameserver $dns6"$'\n'
  fi
  pidfile="$state/dnsmasq-$NSLAB_UPSTREAM_NS.pid"
  [ -d "$state" ] || mkdir -p "$state" # run.sh made it; a stage run alone may not have
  if ! { [ -s "$pidfile" ] && kill -0 "$(<"$pidfile")" 2>/dev/null; }; then
    # In the background while the resolv.conf files are written: dnsmasq takes ~4 ms to
    # start, and returns once it listens. nsenter, not `ip netns exec`: dnsmasq reads no
    # /etc or /sys file here (~1.5 ms less).
    nsenter "--net=/run/netns/$NSLAB_UPSTREAM_NS" dnsmasq --conf-file=/dev/null --no-resolv --no-hosts \
      --bind-interfaces --port=53 --user= --group= "${serve[@]}" --pid-file="$pidfile" &
    started=$!
  fi
  for name in "$@"; do [ -d "/etc/netns/$name" ] || dirs+=("/etc/netns/$name"); done
  [ "${#dirs[@]}" -eq 0 ] || mkdir -p "${dirs[@]}" # one mkdir for all (a process each: ~2 ms)
  for name in "$@"; do
    printf '%soptions timeout:1 attempts:2\n' "$conf" >"/etc/netns/$name/resolv.conf"
  done
  [ -z "$started" ] || wait "$started" || {
    echo "nslab: dnsmasq did not start in namespace $NSLAB_UPSTREAM_NS (its error is above)" >&2
    return 1
  }
}
