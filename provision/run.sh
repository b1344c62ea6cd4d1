#!/usr/bin/env bash
# Run provision stages in order: `run.sh 10-sysctl.sh 20-networks.sh ...`. One call
# for a whole lab (no process start-up per stage on the caller's side); the first
# failure stops the run and names the stage. Used by nslab and the Vagrantfile alike.
set -euo pipefail
case $0 in */*) here=${0%/*} ;; *) here=. ;; esac # not `dirname`: a process (~1 ms)
export NSLAB_PROVISION_DIR=$here # stages find lib.sh without a `dirname` process each

# Rules are loaded by this script, not by the stages (lib.sh ensure_rules queues them in
# files under NSLAB_RULES): a namespace's ruleset is read once per run, and after each
# stage the rules it queued are loaded in the background (one iptables-restore at a
# time per namespace; rules queued while one runs wait for the next). Why, measured on
# the seed lab (84 ms before): an iptables-restore that changes a base chain (the FORWARD
# policy) blocks ~12 ms as it exits, while nf_tables waits out an RCU grace period when
# its netlink socket closes; in the background that wait overlaps the next stages. And
# the host's four iptables-save (~1.7 ms each) become one. A load that fails stops the
# run after the stage it overlapped and names the stage and rule that failed.
state=${NSLAB_STATE_DIR:-/run/nslab}
[ -d "$state" ] || mkdir -p "$state"
export NSLAB_RULES=$state/rules.$$
declare -A busy=() lines_of=() err_of=() # namespace -> pid of its load; pid -> its lines, stderr
broken=" "                               # namespaces whose load failed: nothing more loads there
failed=""

read_into() { IFS= read -r -d '' "$1" <"$2" || true; }

# load NS: load the rules queued for NS (@host: this namespace) in the background. Its
# stderr goes to a file opened here, so the files can go before the load ends.
load() {
  local key=$1 lines w r
  local -a in_ns=()
  read_into lines "$NSLAB_RULES.$key.pending"
  : >"$NSLAB_RULES.$key.pending"
  [ "$key" = @host ] || in_ns=(nsenter "--net=/run/netns/$key")
  # shellcheck disable=SC2094 # one end writes (the load), the other reads it after
  exec {w}>"$NSLAB_RULES.$key.err" {r}<"$NSLAB_RULES.$key.err"
  "${in_ns[@]}" iptables-restore -w --noflush <<<"$lines" 2>&"$w" &
  busy[$key]=$!
  lines_of[$!]=$lines
  err_of[$!]=$r
  exec {w}>&-
}

# reap NS: wait for NS's load; if it failed, name the stage and the rule that failed.
reap() {
  local key=$1 pid=${busy[$1]} err line stage="" at="" i=0 rule="" r rc
  r=${err_of[$pid]}
  unset "busy[$key]"
  wait "$pid" && rc=0 || rc=$?
  read -r -d '' -u "$r" err || true
  exec {r}<&-
  [ "$rc" -ne 0 ] || return 0
  [[ $err =~ line:?\ ([0-9]+) ]] && at=${BASH_REMATCH[1]}
  while IFS= read -r line; do # the "# stage" line above the failing one (all, if unknown)
    i=$((i + 1))
    if [[ $line == "# stage "* ]]; then
      if [ -z "$at" ]; then stage+=" ${line#\# stage }"; elif [ "$i" -le "$at" ]; then stage=${line#\# stage }; fi
    elif [ "$i" = "$at" ]; then
      rule=" (rule: $line)"
    fi
  done <<<"${lines_of[$pid]}"
  broken+="$key "
  [ "$key" = @host ] && key="" || key=" in namespace $key"
  echo "nslab: ${stage# }: its rules did not load$key: ${err%%$'\n'*}$rule" >&2
  failed=${failed:-${stage# }}
  return 1
}

# loads [all]: start a load for every namespace with rules queued; one whose load still
# runs waits for the next call, unless "all" (the end: wait for it, then load the rest).
loads() {
  local f key
  for f in "$NSLAB_RULES".*.pending; do
    [ -s "$f" ] || continue
    key=${f#"$NSLAB_RULES".}
    key=${key%.pending}
    if [ -n "${busy[$key]:-}" ]; then
      [ "${1:-}" = all ] || ! kill -0 "${busy[$key]}" 2>/dev/null || continue
      reap "$key" || true
    fi
    if [[ $broken == *" $key "* ]]; then : >"$f"; else load "$key"; fi
  done
}

for stage in "$@"; do # every name checked before any stage runs
  case $stage in
    [0-9][0-9]-*.sh) ;;
    *) echo "nslab: '$stage' is not a stage file name in provision/" >&2; exit 64 ;;
  esac
  case $stage in *..* | *//*) echo "nslab: '$stage' is not a stage file name in provision/" >&2; exit 64 ;; esac
done
for stage in "$@"; do
  # Each stage in a subshell of this bash, not a bash of its own: a new bash and lib.sh
  # cost ~2.5 ms a stage (20 of the seed lab's 133 ms). Not `if ! ( ... )`: errexit is
  # ignored inside a condition's subshell, and a failing command would not stop its stage.
  set +e
  (
    set -e
    export NSLAB_STAGE=$stage
    # shellcheck source=/dev/null
    . "$here/$stage"
  )
  rc=$?
  set -e
  if [ "$rc" -ne 0 ]; then
    failed=$stage
    break
  fi
  loads
  [ -z "$failed" ] || break
done
# The end: the rules of every stage that ran (even when one failed, as stages run alone
# would have loaded them); the files go while the last loads run (they hold what they read).
loads all
if compgen -G "$NSLAB_RULES.*" >/dev/null; then rm -f "$NSLAB_RULES".*; fi
for key in "${!busy[@]}"; do reap "$key" || true; done
if [ -n "$failed" ]; then
  echo "nslab: provision stage $failed failed" >&2
  exit 1
fi
