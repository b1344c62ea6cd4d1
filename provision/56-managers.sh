#!/usr/bin/env bash
# when: managers
# Stage managers: ufw and firewalld, run for real on the lab hosts that name them
# (`firewall = { ufw = [...] }`, `{ ufw = "FOLDER" }`, `{ firewalld = "FOLDER" }`), each in
# its host's network namespace and in a mount namespace of the host's own, kept by a
# holder process (its PID in DIR/holder): there /etc/ufw or
# /etc/firewalld is a scratch copy (the installed package's defaults, the user's folder
# laid over them), /run/firewalld and /run/dbus are the host's own, /sys shows its links.
# firewalld talks on a private dbus-daemon whose socket is the only system bus there
# (firewalld#904: a firewall-cmd that reaches the machine's bus changes the machine's
# firewall). Commands enter with `nsenter --target HOLDER --mount --net`
# (nslab.managers.common). Daemons are started in the world: its PID namespace ends
# them with it, even after a kill -9 of the run. Their PIDs are kept in DIR/pids.
set -euo pipefail
# shellcheck source=lib.sh
. "${NSLAB_PROVISION_DIR:-$(dirname "$0")}/lib.sh"
need NSLAB_MANAGERS

# Each line: HOST KIND DIR. DIR (in the world's own /run) holds user/ (the user's folder,
# put there by nslab), commands (ufw's: one word a line, a blank line after each command),
# folder (the folder's name as the lab file gave it, where it gave one: said on a failure).

# defaults KIND ETC: the package's own configuration, as its postinst makes it on a first
# install; never the machine's rules or zones (its /etc/ufw/user.rules, /etc/firewalld/zones).
defaults() {
  local kind=$1 etc=$2
  mkdir -p "$etc"
  if [ "$kind" = ufw ]; then
    cp /usr/share/ufw/iptables/*.rules /usr/share/ufw/ufw.conf "$etc/"
    cp /usr/share/ufw/before.init /usr/share/ufw/after.init "$etc/"
    chmod 755 "$etc/before.init" "$etc/after.init"
    cp -r /etc/ufw/applications.d /etc/ufw/sysctl.conf "$etc/" # the package's conffiles
  else
    if [ -r /etc/firewalld/firewalld.conf ]; then
      cp /etc/firewalld/firewalld.conf /etc/firewalld/lockdown-whitelist.xml "$etc/" # conffiles
    else
      # Not root (a user namespace): /etc/firewalld is root's alone (0750). The values
      # Debian's firewalld.conf (1.3.3) sets, which are firewalld's own fallbacks too; a key
      # left out is an ERROR of firewalld's ("DefaultZone is not set").
      printf '%s\n' DefaultZone=public CleanupOnExit=yes CleanupModulesOnExit=no Lockdown=no \
        IPv6_rpfilter=yes IndividualCalls=no LogDenied=off FirewallBackend=nftables \
        FlushAllOnReload=yes RFC3964_IPv4=yes >"$etc/firewalld.conf"
    fi
    mkdir -p "$etc"/{helpers,icmptypes,ipsets,policies,services,zones}
  fi
}

# The lab's ufw commands, then `ufw --force enable`, all in one python: ufw itself
# (/usr/sbin/ufw) run once per command in the same interpreter. A disabled ufw only writes
# its files (user.rules, the default policies), so its rules load once, at the enable.
# Each python start costs ~0.4 s on a loaded machine: one process, not one a command.
# The commands file: one word a line, a blank line after each command.
UFW_RUN='
import runpy, sys
words, commands = [], []
for line in open(sys.argv[1]).read().split("\n"):
    if line:
        words.append(line)
    elif words:
        commands.append(words)
        words = []
for argv in [*commands, ["--force", "enable"]]:
    sys.argv = ["ufw", *argv]
    try:
        runpy.run_path("/usr/sbin/ufw", run_name="__main__")
    except SystemExit as exc:
        if exc.code not in (0, None):
            print("nslab-ufw-failed: ufw " + " ".join(argv), file=sys.stderr)
            raise
'

bus_conf() {
  cat <<EOF
<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>system</type>
  <listen>unix:path=$1</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow user="root"/>
    <allow own="*"/>
    <allow send_destination="*"/>
    <allow receive_sender="*"/>
  </policy>
</busconfig>
EOF
}

# in HOST DIR ARGV...: ARGV in the host's namespaces (network, and its own mounts)
in_host() {
  local host=$1 dir=$2
  shift 2
  nsenter --target "$(<"$dir/holder")" --mount --net -- \
    env "DBUS_SYSTEM_BUS_ADDRESS=unix:path=$dir/dbus/system_bus_socket" "$@"
}

# exec_in_host HOST DIR ARGV...: the same, in place of the calling (sub)shell
exec_in_host() {
  local host=$1 dir=$2
  shift 2
  exec nsenter --target "$(<"$dir/holder")" --mount --net -- \
    env "DBUS_SYSTEM_BUS_ADDRESS=unix:path=$dir/dbus/system_bus_socket" "$@"
}

# firewalld_state HOST DIR: RUNNING, INIT, FAILED, or nothing while it has no bus name
firewalld_state() {
  local out
  if command -v dbus-send >/dev/null; then
    out=$(in_host "$1" "$2" dbus-send --system --print-reply --reply-timeout=2000 \
      --dest=org.fedoraproject.FirewallD1 /org/fedoraproject/FirewallD1 \
      org.freedesktop.DBus.Properties.Get string:org.fedoraproject.FirewallD1 string:state 2>/dev/null) || return 0
    out=${out##*string \"}
    echo "${out%%\"*}"
  else
    out=$(in_host "$1" "$2" firewall-cmd --state 2>&1) || true
    case $out in running) echo RUNNING ;; failed) echo FAILED ;; esac
  fi
}

# wait_for TRIES ARGV...: until ARGV succeeds, every 50 ms
wait_for() {
  local tries=$1 i
  shift
  for ((i = 0; i < tries; i++)); do
    "$@" >/dev/null 2>&1 && return 0
    sleep 0.05
  done
  return 1
}

# mounts HOST KIND DIR: the host's mount namespace, with its own /sys
# (of its network namespace), its /etc copy and its /run parts
mounts() {
  local host=$1 kind=$2 dir=$3
  # nslab puts the lab's folder and commands there first (nslab.managers.common); run
  # without it (the stages alone), the host would silently run the package's defaults
  if [ ! -e "$dir/commands" ]; then
    echo "nslab: $host's $kind inputs are not in $dir: run the stages through nslab (see provision/README.md)" >&2
    return 64
  fi
  mkdir -p "$dir/etc" "$dir/run" "$dir/dbus" "/run/$kind" /run/dbus
  defaults "$kind" "$dir/etc"
  cp -r "$dir/user/." "$dir/etc/"
  : >"$dir/pids"
  if [ "$kind" = ufw ]; then
    # /etc/default/ufw, but no kernel module loaded (IPT_MODULES: a machine-wide change)
    sed 's/^IPT_MODULES=.*/IPT_MODULES=""/' /etc/default/ufw >"$dir/default-ufw"
  fi
  # A holder process in the host's namespaces keeps them: commands enter its mounts with
  # `nsenter --target PID` (its PID in DIR/holder). It prints "ready" once its mounts are
  # made. Not a namespace bound to a file (`unshare --mount=FILE`, or a bind of
  # /proc/PID/ns/mnt): that failed with EINVAL in every other world (kernel 6.18, util-linux
  # 2.38). It sleeps in the world's PID namespace, which ends it with the world.
  # shellcheck disable=SC2016 # the inner bash expands them
  coproc HOLDER {
    exec nsenter "--net=/run/netns/$host" unshare --mount --propagation private bash -euc '
      dir=$1 kind=$2
      mount -t sysfs -o ro nslab-sys /sys
      mount --bind "$dir/etc" "/etc/$kind"
      mount --bind "$dir/run" "/run/$kind"
      mount --bind "$dir/dbus" /run/dbus
      if [ "$kind" = ufw ]; then mount --bind "$dir/default-ufw" /etc/default/ufw; fi
      echo ready
      exec sleep infinity </dev/null >/dev/null 2>&1
    ' mounts "$dir" "$kind" 2>"$dir/holder.log"
  }
  local line="" pid=$HOLDER_PID
  read -r line <&"${HOLDER[0]}" || true
  local r=${HOLDER[0]} w=${HOLDER[1]}
  exec {r}<&- {w}>&-
  if [ "$line" != ready ]; then
    echo "nslab: $host: its mount namespace could not be made: $(cat "$dir/holder.log")" >&2
    return 1
  fi
  echo "$pid" >"$dir/holder"
  echo "holder $pid" >>"$dir/pids"
}

start() {
  local host=$1 kind=$2 dir=$3 pid
  if [ "$kind" = ufw ]; then
    in_host "$host" "$dir" /usr/bin/python3 -c "$UFW_RUN" "$dir/commands" >"$dir/log" 2>&1 || {
      local failed err fix # one line: the command, ufw's own words, and what the lab gave
      failed=$(grep -m 1 '^nslab-ufw-failed: ' "$dir/log" || true)
      err=$(grep '^ERROR: ' "$dir/log" | tail -n 1 || true)
      fix="the host's firewall = { ufw = [...] } in the lab file"
      if [ -s "$dir/folder" ]; then # the lab gave a folder: its rules files, not a list
        fix="the rules files of the host's ufw folder $(cat "$dir/folder") (\`nslab validate\` names the file and line)"
      fi
      echo "nslab: $host: \`${failed#nslab-ufw-failed: }\` failed: ${err:-$(tail -n 1 "$dir/log")} (fix: $fix)" >&2
      return 1
    }
    return 0
  fi
  bus_conf "$dir/dbus/system_bus_socket" >"$dir/bus.conf"
  # exec'd in the background subshell: $! is then the daemon itself (nsenter and env exec
  # it), the PID teardown.sh ends; without, it was the subshell's, and the daemon stayed
  (exec_in_host "$host" "$dir" dbus-daemon "--config-file=$dir/bus.conf" --nofork --nopidfile) \
    </dev/null >"$dir/dbus.log" 2>&1 &
  pid=$!
  echo "dbus-daemon $pid" >>"$dir/pids"
  wait_for 100 test -S "$dir/dbus/system_bus_socket" || {
    echo "nslab: the private dbus-daemon of $host did not start: $(tail -n 3 "$dir/dbus.log")" >&2
    return 1
  }
  (exec_in_host "$host" "$dir" firewalld --nofork --nopid --log-target=console) \
    </dev/null >"$dir/log" 2>&1 &
  pid=$!
  echo "firewalld $pid" >>"$dir/pids"
  # ready when its `state` property (firewall-cmd --state reads it) is RUNNING; FAILED:
  # it will not be. Asked with dbus-send (~5 ms) where it is, not firewall-cmd (a python
  # start each, ~0.3 s); bounded by time.
  local state="" deadline=$((SECONDS + 60))
  while [ "$SECONDS" -lt "$deadline" ] && kill -0 "$pid" 2>/dev/null; do
    state=$(firewalld_state "$host" "$dir")
    case $state in RUNNING | FAILED) break ;; esac
    sleep 0.05
  done
  # A configuration firewalld refuses (a zone naming an unknown service ...): it logs an
  # ERROR, falls back to its stock configuration and runs on. Said here, or every verdict
  # of the scenario would be the stock zones' and not the lab's.
  local err
  err=$(grep -o 'ERROR: .*' "$dir/log" | tail -n 1 || true) # the last: the most precise
  if [ -n "$err" ]; then
    echo "nslab: firewalld on $host refused the lab's configuration (${err#ERROR: }); fix the lab's firewalld folder" >&2
    return 1
  fi
  if [ "$state" != RUNNING ]; then
    echo "nslab: firewalld did not start on $host (${state:-no answer}): $(tail -n 3 "$dir/log")" >&2
    return 1
  fi
}

while read -r host kind dir; do mounts "$host" "$kind" "$dir" || exit; done <<<"$NSLAB_MANAGERS"
pids=()
hosts=()
while read -r host kind dir; do
  start "$host" "$kind" "$dir" &
  pids+=($!)
  hosts+=("$host")
done <<<"$NSLAB_MANAGERS"
failed=""
for i in "${!pids[@]}"; do wait "${pids[$i]}" || failed+=" ${hosts[$i]}"; done
[ -z "$failed" ] || { echo "nslab: managers: no manager started on$failed" >&2; exit 1; }
