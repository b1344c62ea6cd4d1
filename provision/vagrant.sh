#!/usr/bin/env bash
# Runs inside a Vagrant VM as root (see the Vagrantfile): installs what the lab needs,
# renders the lab file into NSLAB_* variables with nslab's own model, and runs the lab's
# stages (the seed's, or a routed lab's) in the VM's root namespace.
# Arguments: BUILD_LAB(1|0) LAB-FILE-NAME (in /tmp/nslab/labs, uploaded with its rulesets)
set -euo pipefail
build_lab=$1
lab_name=$2

need=(ip iptables ping dnsmasq python3 getent unshare nsenter sysctl setpriv conntrack nft)
missing=()
for tool in "${need[@]}"; do command -v "$tool" >/dev/null || missing+=("$tool"); done
if [ "${#missing[@]}" -gt 0 ]; then
  echo "nslab: installing the lab's tools (missing: ${missing[*]})"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends iproute2 iptables iputils-ping dnsmasq-base \
    python3 procps util-linux libc-bin conntrack nftables >/dev/null
fi
# The firewall managers lab hosts run (ufw, Docker) and the static busybox Docker's offline
# image is made of (nslab.managers). Their services are kept from starting and disabled:
# Docker runs only inside worlds; the VM's own dockerd would set its root namespace's
# FORWARD policy to DROP under the manual lab built there.
missing=()
for tool in ufw dockerd containerd runc; do command -v "$tool" >/dev/null || missing+=("$tool"); done
busybox=$(ldd /bin/busybox 2>&1 || true) # not a pipe into grep -q: pipefail sees ldd's exit 1
case $busybox in *"not a dynamic executable"*) ;; *) missing+=("a static busybox") ;; esac
if [ "${#missing[@]}" -gt 0 ]; then
  echo "nslab: installing the firewall managers (missing: ${missing[*]})"
  export DEBIAN_FRONTEND=noninteractive
  # invoke-rc.d's veto while apt installs (exit 101: start no service); a box's own is kept
  policy=/usr/sbin/policy-rc.d
  if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' >"$policy"
    chmod 755 "$policy"
    trap 'rm -f "$policy"' EXIT
  fi
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends ufw docker.io busybox-static >/dev/null
  systemctl --quiet disable --now docker.socket docker.service containerd.service
fi
# Bridged frames through iptables: a kernel module on stock Ubuntu. Loading it is a
# host-wide change, which is what this disposable VM is for.
[ -e /proc/sys/net/bridge ] || modprobe br_netfilter
mkdir -p /etc/netns /opt/nslab
# The uploads move to /opt/nslab and /tmp/nslab goes: the next `vagrant provision` uploads
# afresh (Vagrant's file provisioner copies a folder *into* one that exists, and a ruleset
# removed from the lab folder would otherwise linger).
for part in provision labs src; do
  rm -rf "/opt/nslab/$part"
  cp -r "/tmp/nslab/$part" "/opt/nslab/$part"
done
rm -rf /tmp/nslab
lab=/opt/nslab/labs/$lab_name
export PYTHONPATH=/opt/nslab/src
python3 -m nslab.machine.provision env "$lab" >/opt/nslab/lab.env.new
mapfile -t stages < <(python3 -m nslab.machine.provision stages "$lab")

# Another lab still up on this VM would share its root namespace with the new one: refuse.
# shellcheck source=/dev/null
lab_of() { (set -a && . "$1" && read -r first _ <<<"${NSLAB_NAMESPACES:-$NSLAB_HOSTS}" && echo "$NSLAB_LAB $first"); }
if [ "$build_lab" = 1 ] && [ -s /opt/nslab/lab.env ]; then
  read -r old_lab old_ns < <(lab_of /opt/nslab/lab.env)
  read -r new_lab _ < <(lab_of /opt/nslab/lab.env.new)
  if [ "$old_lab" != "$new_lab" ] && [ -e "/run/netns/$old_ns" ]; then
    echo "nslab: lab '$old_lab' is up on this VM; '$new_lab' would share its root namespace" \
      "(fix: vagrant destroy -f, then NSLAB_LAB=... vagrant up)" >&2
    exit 1
  fi
fi
mv /opt/nslab/lab.env.new /opt/nslab/lab.env
echo "nslab: lab values in /opt/nslab/lab.env, stages in /opt/nslab/provision"

if [ "$build_lab" = 1 ]; then
  set -a
  # shellcheck disable=SC1091
  . /opt/nslab/lab.env
  set +a
  bash /opt/nslab/provision/run.sh "${stages[@]}"
  read -r first _ <<<"${NSLAB_NAMESPACES:-$NSLAB_HOSTS}"
  echo "nslab: lab '$NSLAB_LAB' is up; try: sudo ip netns list; sudo nft list ruleset;" \
    "sudo ip netns exec $first ip route"
fi
