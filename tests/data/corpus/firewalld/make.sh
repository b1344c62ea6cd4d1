#!/bin/bash
# Makes firewalld.nft-list-ruleset beside this script from firewalld itself (Debian's
# firewalld package), once; the tests only read what it saved. Run as root: bash make.sh
#
# Safety: firewalld is never installed, enabled or run on the machine, and never talks to
# the system bus (firewall-cmd there changes the host's firewall). The packages are only
# downloaded and unpacked into a scratch folder. The zones are written with
# firewall-offline-cmd into a private config folder (--system-config); then, inside
# `unshare --net --mount --pid --fork`, a private dbus-daemon listens on a socket in the
# scratch folder and firewalld (--nofork --nopid, that config, logging to the console)
# builds its ruleset in the fresh network namespace; both are ended by PID and the PID
# namespace ends with the script. The machine's nft ruleset and iptables rules are
# compared before and after.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
PACKAGES=(firewalld python3-firewall python3-nftables)  # python3-nftables: libnftables' binding; run by Debian's python3 (its gi and dbus)

inside() {
    # in the fresh namespaces: $1 is the scratch folder (the unpacked packages in root/)
    local scratch=$1 root=$1/root bus daemon firewalld tries
    mount -t tmpfs tmpfs /run  # firewalld's /run/firewalld, private
    ip link set lo up
    bus="$scratch/bus"
    cat >"$scratch/bus.conf" <<EOF
<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>system</type>
  <listen>unix:path=$bus</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow user="root"/>
    <allow own="*"/>
    <allow send_destination="*"/>
    <allow receive_sender="*"/>
  </policy>
</busconfig>
EOF
    dbus-daemon --config-file="$scratch/bus.conf" --nofork --nopidfile &
    daemon=$!
    for tries in $(seq 50); do [ -S "$bus" ] && break; sleep 0.1; done
    DBUS_SYSTEM_BUS_ADDRESS="unix:path=$bus" PYTHONPATH="$root/usr/lib/python3/dist-packages" \
        /usr/bin/python3 "$root/usr/sbin/firewalld" --nofork --nopid --log-target=console \
        --system-config="$scratch/etc" --default-config="$root/usr/lib/firewalld" &
    firewalld=$!
    # firewalld has built its ruleset when its table holds the zones' chains
    for tries in $(seq 100); do
        nft list chain inet firewalld filter_IN_public >/dev/null 2>&1 && break
        sleep 0.2
    done
    [ "$tries" -lt 100 ] || { echo "make.sh: firewalld built no ruleset" >&2; exit 1; }
    sleep 1  # its last commands of the start
    nft list ruleset >"$here/firewalld.nft-list-ruleset"
    kill "$firewalld"
    wait "$firewalld" || true
    kill "$daemon"
    wait "$daemon" || true
}

if [ "${1:-}" = "--inside" ]; then
    inside "$2"
    exit 0
fi

[ "$(id -u)" = 0 ] || { echo "make.sh: run as root (it makes namespaces)" >&2; exit 2; }

machine() {
    # what must not change: the machine's firewalld config (absent unless installed) and
    # its root namespace's rules
    if [ -e /etc/firewalld ]; then find /etc/firewalld -type f -exec sha256sum {} +; else echo "no /etc/firewalld"; fi
    nft list ruleset
    iptables-save | sed -e '/^# /d'
    ip6tables-save | sed -e '/^# /d'
}

scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
chmod 755 "$scratch"  # apt's download user writes there
before=$(machine)

(cd "$scratch" && apt-get download -q "${PACKAGES[@]}")
for deb in "$scratch"/*.deb; do dpkg-deb -x "$deb" "$scratch/root"; done
root="$scratch/root"
cp -r "$root/etc/firewalld" "$scratch/etc"  # firewalld.conf as the package ships it

offline() {
    PYTHONPATH="$root/usr/lib/python3/dist-packages" /usr/bin/python3 "$root/usr/bin/firewall-offline-cmd" \
        --system-config="$scratch/etc" --default-config="$root/usr/lib/firewalld" "$@"
}
# a router: the LAN (eth0) in zone internal, the uplink (uplink0) in zone public; the
# uplink masqueraded; 8080 on the uplink forwarded to the LAN's web server 10.8.0.10:80;
# 9090 (an admin console) open to 198.51.100.0/24 only, by a rich rule
offline --zone=internal --add-interface=eth0
offline --zone=public --add-interface=uplink0
offline --zone=public --add-masquerade
offline --zone=public --add-forward-port=port=8080:proto=tcp:toport=80:toaddr=10.8.0.10
offline --zone=public --add-rich-rule='rule family="ipv4" source address="198.51.100.0/24" port port="9090" protocol="tcp" accept'
offline --zone=public --list-all >"$here/firewalld-public.txt"
offline --zone=internal --list-all >"$here/firewalld-internal.txt"

unshare --net --mount --pid --fork --mount-proc bash "$0" --inside "$scratch"
for deb in "$scratch"/*.deb; do dpkg-deb -f "$deb" Package Version; done >"$here/VERSION"

after=$(machine)
if [ "$before" != "$after" ]; then
    echo "make.sh: the machine's firewall or firewalld config changed: look at it now" >&2
    diff <(echo "$before") <(echo "$after") >&2 || true
    exit 1
fi
echo "made: firewalld.nft-list-ruleset ($(grep -c . "$here/firewalld.nft-list-ruleset") lines)"
