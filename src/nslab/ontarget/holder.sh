#!/bin/bash
# The holder of an nslab world: nslab.machine.world reads this file and runs it with
# `unshare ... bash -c`; arguments: MODE (scenario or persistent) and HOST_FS (ro or rw).
#
# Runs as PID 1 of the world. Its own /proc (PIDs as the world sees them: libvirtd and
# others read /proc/PID/...), own tmpfs for /run (so /run/netns and lock files are
# private) and for /etc/netns; a resolv.conf like Ubuntu's stub (127.0.0.53), which lab
# namespaces cannot reach: DNS inside them fails until the dns stage gives them a
# resolver, exactly as in the seed. Loopback up, as on any host. Then report our
# host-visible PID and wait. bash, not sh: as PID 1 it must reap the orphans that daemons
# leave (bash reaps on SIGCHLD even while blocked in `read`; dash does not, and libvirtd
# then waits forever for its probe processes to vanish).
set -eu
mode=$1 hostfs=$2
cd / # commands enter with this root and working directory (nsenter --root --wd)
read -r hostpid _ < /proc/self/stat
conf=/etc/resolv.conf
if [ -L "$conf" ]; then conf=$(readlink -m "$conf"); fi
dirs=(/run/netns /run/nslab/tmp /run/nslab/tmp-work)
case $conf in /run/*) dirs+=("${conf%/*}") ;; esac
mount -t proc -o nosuid,nodev,noexec proc /proc
mount -t tmpfs -o mode=0755,size=64m nslab-run /run
mkdir -p "${dirs[@]}"
case $conf in /run/*) : > "$conf" ;; esac
printf 'nameserver 127.0.0.53\noptions timeout:1 attempts:1\n' > /run/nslab/resolv.conf
# Every other mount of the world in one `mount -a` over an fstab of its own: each mount(8)
# process costs ~2 ms, and there are up to six (measured: the world 28.5 -> ~19 ms).
fstab="nslab-etc-netns /etc/netns tmpfs mode=0755,size=4m 0 0"$'\n'
if [ "$hostfs" = ro ]; then
  # The host's files, read-only: every file system the world inherited (but the kernel's
  # own /proc, /sys, /dev and the /run we cover) unless it is read-only already. Usually
  # one to three (/, /home, /boot). Not in the fstab: `mount -a` skips what is mounted.
  while read -r _ _ _ _ mnt opts _; do
    case $mnt in /proc | /proc/* | /sys | /sys/* | /dev | /dev/* | /run | /run/* | /etc/netns)
      continue ;;
    esac
    case ,$opts, in *,ro,*) continue ;; esac
    printf -v mnt '%b' "${mnt//\\/\\0}" # mountinfo writes ' ' as \040
    mount -o remount,bind,ro "$mnt"
  done < /proc/self/mountinfo
  # Kernel settings outside the network (kernel.*, vm.*) are the host's too: /proc/sys
  # read-only but for net.*, which is per network namespace (rbind keeps net's rw bind).
  fstab+="/proc/sys/net /proc/sys/net none bind 0 0"$'\n'
  fstab+="/proc/sys /proc/sys none rbind,ro 0 0"$'\n'
  fstab+="nslab-sys /sys sysfs ro,nosuid,nodev,noexec 0 0"$'\n'
  # /tmp: the host's files stay visible (a checkout or venv under /tmp holds the stages),
  # writes land in the world's own layer. Without overlayfs, the host's /tmp stays writable.
  overlay=no
  while read -r _ fs; do [ "$fs" != overlay ] || overlay=yes; done < /proc/filesystems
  if [ "$overlay" = yes ]; then
    fstab+="nslab-tmp /tmp overlay lowerdir=/tmp,upperdir=/run/nslab/tmp,workdir=/run/nslab/tmp-work 0 0"$'\n'
  else # not loaded yet (a module): mount(8) loads it, or the host's /tmp stays writable
    mount -t overlay -o lowerdir=/tmp,upperdir=/run/nslab/tmp,workdir=/run/nslab/tmp-work nslab-tmp /tmp ||
      mount -o bind,rw /tmp /tmp
  fi
fi
if [ -e "$conf" ]; then fstab+="/run/nslab/resolv.conf ${conf// /\\040} none bind 0 0"$'\n'; fi
printf '%s' "$fstab" > /run/nslab/fstab
mount --all --fstab /run/nslab/fstab
ip link set lo up
echo "nslab-world-ready $hostpid"
if [ "$mode" = persistent ]; then
  while :; do sleep 86400 & wait "$!" || true; done
fi
read -r _ || true
