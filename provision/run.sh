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
  if ! bash "$here/$stage"; then
    echo "nslab: provision stage $stage failed" >&2
    exit 1
  fi
done
