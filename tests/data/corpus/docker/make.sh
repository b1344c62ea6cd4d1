#!/bin/bash
# Makes docker.iptables-save beside this script from Docker itself (Debian's docker.io),
# once: one container publishing two ports (`docker run -p 8080:80 -p 2222:22`); the
# tests only read what it saved. Run as root: bash make.sh
#
# Safety: Docker is never installed, enabled or run on the machine. The packages are only
# downloaded and unpacked into a scratch folder; the container's image is a busybox
# binary from busybox-static, imported (no registry). dockerd runs inside `unshare --net
# --mount --pid --fork` with its own data root, exec root, pid file, socket and config
# file in the scratch folder, and /etc and /var/lib are overlays whose writes land there
# too (dockerd writes /etc/docker/key.json otherwise); its rules land in the fresh network
# namespace. dockerd is ended by PID, the PID namespace ends its containerd and the
# container with the script, and the cgroup directories it made (under a cgroup parent of
# its own) are removed. The machine's rules and /etc/docker are compared before and after.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
PACKAGES=(docker.io containerd runc tini busybox-static)
PARENT=nslab-corpus-docker  # the containers' cgroup parent: nslab's own, removed after

inside() {
    local s=$1 daemon _
    for d in etc var/lib; do  # writes to /etc and /var/lib land in the scratch folder
        mkdir -p "$s/up/$d" "$s/work/$d"
        mount -t overlay overlay -o "lowerdir=/$d,upperdir=$s/up/$d,workdir=$s/work/$d" "/$d"
    done
    mount -t tmpfs tmpfs /run
    ip link set lo up
    export PATH="$s/root/usr/bin:$s/root/usr/sbin:$PATH" DOCKER_CONFIG="$s/cli"
    echo '{}' >"$s/daemon.json"
    dockerd --config-file "$s/daemon.json" --data-root "$s/lib" --exec-root "$s/exec" \
        --pidfile "$s/docker.pid" -H "unix://$s/docker.sock" --storage-driver vfs \
        --cgroup-parent "$PARENT" >"$s/dockerd.log" 2>&1 &
    daemon=$!
    docker() { command docker -H "unix://$s/docker.sock" "$@"; }
    for _ in $(seq 150); do docker info >/dev/null 2>&1 && break; sleep 0.2; done
    docker import "$s/rootfs.tar" nslab-busybox:corpus
    docker run -d --name web -p 8080:80 -p 2222:22 nslab-busybox:corpus /bin/busybox sleep 300
    # no timestamps, no counters: the file changes only when Docker's rules do
    iptables-save | sed -e '/^# /d' -e 's/\[[0-9]*:[0-9]*\]$/[0:0]/' >"$here/docker.iptables-save"
    docker inspect -f '{{.NetworkSettings.IPAddress}} {{json .NetworkSettings.Ports}}' web >"$here/docker-ports.txt"
    docker rm -f web >/dev/null
    kill "$daemon"
    wait "$daemon" || true
}

if [ "${1:-}" = "--inside" ]; then
    inside "$2"
    exit 0
fi

[ "$(id -u)" = 0 ] || { echo "make.sh: run as root (it makes namespaces)" >&2; exit 2; }

machine() {
    if [ -e /etc/docker ]; then find /etc/docker -type f -exec sha256sum {} +; else echo "no /etc/docker"; fi
    ls -d /var/lib/docker /var/lib/containerd 2>/dev/null || true
    find /sys/fs/cgroup -type d -name "$PARENT" -prune
    nft list ruleset
    iptables-save | sed -e '/^# /d'
    ip6tables-save | sed -e '/^# /d'
}

scratch=$(mktemp -d)
reap_cgroups() {
    local d
    # the containers' cgroups, deepest first, wherever they are: a relative cgroup parent
    # lands under this process's own cgroup in each hierarchy (memory/process_api/ID/...
    # here), which a /sys/fs/cgroup/*/PARENT glob missed and left behind
    while read -r d; do
        find "$d" -depth -type d -exec rmdir {} +
    done < <(find /sys/fs/cgroup -type d -name "$PARENT" -prune)
}
cleanup() {
    reap_cgroups
    rm -rf "$scratch"
}
trap cleanup EXIT
chmod 755 "$scratch"  # apt's download user writes there
reap_cgroups  # what an earlier run of this script left (the glob above missed them)
before=$(machine)

(cd "$scratch" && apt-get download -q "${PACKAGES[@]}")
for deb in "$scratch"/*.deb; do dpkg-deb -x "$deb" "$scratch/root"; done
mkdir -p "$scratch/rootfs/bin"
cp "$scratch/root/bin/busybox" "$scratch/rootfs/bin/"
tar -C "$scratch/rootfs" -cf "$scratch/rootfs.tar" .

unshare --net --mount --pid --fork --mount-proc bash "$0" --inside "$scratch"
for deb in "$scratch"/docker.io_*.deb "$scratch"/containerd_*.deb; do dpkg-deb -f "$deb" Package Version; done >"$here/VERSION"
cleanup
trap - EXIT

after=$(machine)
if [ "$before" != "$after" ]; then
    echo "make.sh: the machine's firewall or Docker state changed: look at it now" >&2
    diff <(echo "$before") <(echo "$after") >&2 || true
    exit 1
fi
echo "made: docker.iptables-save ($(grep -c '^-A' "$here/docker.iptables-save") rules)"
