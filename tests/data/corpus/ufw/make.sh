#!/bin/bash
# Makes the ufw rulesets beside this script from ufw itself (Debian's ufw package), once;
# the tests only read what it saved. Run as root: bash make.sh
#
# Safety: ufw is never installed, enabled or run on the machine. The package is only
# downloaded and unpacked into a scratch folder; ufw runs from there (its own --rootdir
# and --datadir, as its test suite runs it) inside `unshare --net --mount --pid --fork`,
# so every rule it writes lands in a fresh network namespace that ends with the script.
# Its private config points the sysctl file at /dev/null and loads no kernel module. The
# machine's /etc/ufw, nft ruleset and iptables rules are compared before and after.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)

inside() {
    # in the fresh namespaces: $1 is the unpacked package (ufw's root and data folder)
    local root=$1
    mount --make-rprivate /
    mount -t tmpfs tmpfs /run
    ip link set lo up
    ufw() {
        PYTHONPATH="$root/usr/lib/python3/dist-packages" /usr/bin/python3 "$root/usr/sbin/ufw" \
            --rootdir="$root" --datadir="$root" "$@"
    }
    ufw default deny incoming
    ufw allow 22/tcp
    ufw allow from 198.51.100.0/24 to any port 443 proto tcp
    ufw deny 8080/tcp
    ufw limit 2222/tcp
    ufw --force enable
    ufw status verbose >"$here/ufw-status.txt"
    # no timestamps, no counters: the files change only when ufw's rules do
    iptables-save | sed -e '/^# /d' -e 's/\[[0-9]*:[0-9]*\]$/[0:0]/' >"$here/ufw.iptables-save"
    ip6tables-save | sed -e '/^# /d' -e 's/\[[0-9]*:[0-9]*\]$/[0:0]/' >"$here/ufw.ip6tables-save"
    nft list ruleset >"$here/ufw.nft-list-ruleset"
}

if [ "${1:-}" = "--inside" ]; then
    inside "$2"
    exit 0
fi

[ "$(id -u)" = 0 ] || { echo "make.sh: run as root (it makes namespaces)" >&2; exit 2; }

machine() {
    # what must not change: the machine's ufw config (absent unless ufw is installed)
    # and its root namespace's rules
    local f
    for f in /etc/ufw/ufw.conf /etc/ufw/user.rules; do
        if [ -e "$f" ]; then sha256sum "$f"; else echo "$f absent"; fi
    done
    nft list ruleset
    iptables-save | sed -e '/^# /d'
    ip6tables-save | sed -e '/^# /d'
}

scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
chmod 755 "$scratch"  # apt's download user writes there
before=$(machine)

(cd "$scratch" && apt-get download -q ufw)
deb=$(echo "$scratch"/ufw_*.deb)
root="$scratch/root"
dpkg-deb -x "$deb" "$root"
# ufw's config as the package's postinst makes it on a first install
mkdir -p "$root/etc/ufw"
cp "$root"/usr/share/ufw/iptables/*.rules "$root/usr/share/ufw/ufw.conf" \
    "$root/usr/share/ufw/before.init" "$root/usr/share/ufw/after.init" "$root/etc/ufw/"
chmod 755 "$root/etc/ufw/before.init" "$root/etc/ufw/after.init"
sed -i 's|^IPT_SYSCTL=.*|IPT_SYSCTL=/dev/null|; s|^IPT_MODULES=.*|IPT_MODULES=""|' "$root/etc/default/ufw"

unshare --net --mount --pid --fork --mount-proc bash "$0" --inside "$root"
dpkg-deb -f "$deb" Package Version >"$here/VERSION"

after=$(machine)
if [ "$before" != "$after" ]; then
    echo "make.sh: the machine's firewall or ufw config changed: look at it now" >&2
    diff <(echo "$before") <(echo "$after") >&2 || true
    exit 1
fi
echo "made: $(tr '\n' ' ' <"$here/VERSION")-> ufw.iptables-save, ufw.ip6tables-save, ufw.nft-list-ruleset"
