#!/usr/bin/env bash
# Run provision stages in order: `run.sh 10-sysctl.sh 20-topology.sh ...`. One call
# for a whole lab (no process start-up per stage on the caller's side); the first
# failure stops the run and names the stage. Used by nslab and the Vagrantfile alike.
set -euo pipefail
case $0 in */*) here=${0%/*} ;; *) here=. ;; esac # not `dirname`: a process (~1 ms)
export NSLAB_PROVISION_DIR=$here # stages find lib.sh without a `dirname` process each

# Rules are loaded by this script, not by the stages (lib.sh ensure_rules queues them in
# files under NSLAB_RULES): a namespace's ruleset is read once per run and loaded in one
# iptables-restore, started in the background as soon as a stage queued it, the rest
# of the run's rules in one more at the end. Why, measured on the seed lab (84 ms):
# an iptables-restore that changes a base chain (the FORWARD policy) blocks ~12 ms as it
# exits, while nf_tables waits out an RCU grace period when its netlink socket closes;
# in the background that wait overlaps the next stages. And the host's four
# iptables-save and four iptables-restore (~1.7 ms each) become one and two.
state=${NSLAB_STATE_DIR:-/run/nslab}
[ -d "$state" ] || mkdir -p "$state"
export NSLAB_RULES=$state/rules.$$
declare -A first=() loading=() # namespace -> pid of its first load; pid -> namespace
n=0

# load NS: start loading NS's queued rules in the background (NS @host: this namespace).
load() {
  local key=$1 lines
  local -a in_ns=()
  read_into lines "$NSLAB_RULES.$key.pending"
  : >"$NSLAB_RULES.$key.pending"
  [ "$key" = @host ] || in_ns=(ip netns exec "$key")
  n=$((n + 1))
  printf '%s' "$lines" >"$NSLAB_RULES.$key.load$n"
  "${in_ns[@]}" iptables-restore -w --noflush <"$NSLAB_RULES.$key.load$n" 2>"$NSLAB_RULES.$key.err$n" &
  loading[$!]="$key $n"
}

# loaded PID: wait for a load; if it failed, name the stage whose line failed and say why.
loaded() {
  local key num lines err line stage="" at="" i=0 rule=""
  read -r key num <<<"${loading[$1]}"
  wait "$1" && return 0
  read_into err "$NSLAB_RULES.$key.err$num"
  read_into lines "$NSLAB_RULES.$key.load$num"
  [[ $err =~ line:?\ ([0-9]+) ]] && at=${BASH_REMATCH[1]}
  while IFS= read -r line; do # the "# stage" line above the failing one (all, if unknown)
    i=$((i + 1))
    if [[ $line == "# stage "* ]]; then
      if [ -z "$at" ]; then stage+=" ${line#\# stage }"; elif [ "$i" -le "$at" ]; then stage=${line#\# stage }; fi
    elif [ "$i" = "$at" ]; then
      rule=" (rule: $line)"
    fi
  done <<<"$lines"
  [ "$key" = @host ] && key="" || key=" in namespace $key"
  echo "nslab: ${stage# }: its rules did not load$key: ${err%%$'\n'*}$rule" >&2
  failed=${failed:-${stage# }}
  return 1
}

read_into() { IFS= read -r -d '' "$1" <"$2" || true; }

# finish: wait for the first loads, then load the rest of every namespace's rules at once.
finish() {
  local key f pid
  local -a rest=()
  for key in "${!first[@]}"; do
    loaded "${first[$key]}" || : >"$NSLAB_RULES.$key.pending" # the rest needs what failed
  done
  for f in "$NSLAB_RULES".*.pending; do
    [ -s "$f" ] || continue
    key=${f#"$NSLAB_RULES".}
    load "${key%.pending}"
    rest+=("$!")
  done
  for pid in "${rest[@]}"; do loaded "$pid" || true; done
  for f in "$NSLAB_RULES".*; do # no files left behind (a glob that matched nothing stays as is)
    if [ -e "$f" ]; then
      rm -f "$NSLAB_RULES".*
      break
    fi
  done
}

for stage in "$@"; do # every name checked before any stage runs
  case $stage in
    [0-9][0-9]-*.sh | routed/[0-9][0-9]-*.sh) ;; # a story's stage; routed/: routed labs
    *) echo "nslab: '$stage' is not a stage file name in provision/" >&2; exit 64 ;;
  esac
  case $stage in *..* | *//*) echo "nslab: '$stage' is not a stage file name in provision/" >&2; exit 64 ;; esac
done
failed=""
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
  for f in "$NSLAB_RULES".*.pending; do # a namespace's first rules: load them now
    [ -s "$f" ] || continue
    key=${f#"$NSLAB_RULES".}
    key=${key%.pending}
    [ -z "${first[$key]:-}" ] || continue # its first load ran or runs: the rest waits
    load "$key"
    first[$key]=$!
  done
done
finish # the rules of the stages that ran, even when one failed (as a stage alone would)
if [ -n "$failed" ]; then
  echo "nslab: provision stage $failed failed" >&2
  exit 1
fi
