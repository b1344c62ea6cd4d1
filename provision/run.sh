#!/usr/bin/env bash
# Run provision stages in order: `run.sh 10-sysctl.sh 20-topology.sh ...`. One call
# for a whole lab (no process start-up per stage on the caller's side); the first
# failure stops the run and names the stage. Used by nslab and the Vagrantfile alike.
set -euo pipefail
here=$(dirname "$0")
export NSLAB_PROVISION_DIR=$here # stages find lib.sh without a `dirname` process each
for stage in "$@"; do
  case $stage in
    [0-9][0-9]-*.sh | routed/[0-9][0-9]-*.sh) ;; # a story's stage; routed/: routed labs
    *) echo "nslab: '$stage' is not a stage file name in provision/" >&2; exit 64 ;;
  esac
  case $stage in *..* | *//*) echo "nslab: '$stage' is not a stage file name in provision/" >&2; exit 64 ;; esac
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
    echo "nslab: provision stage $stage failed" >&2
    exit 1
  fi
done
