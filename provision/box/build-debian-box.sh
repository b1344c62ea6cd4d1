#!/usr/bin/env bash
# Build a Debian 12 vagrant-libvirt box from Debian packages alone: for machines that
# cannot download boxes (air-gapped users, this project's VM lane). Usage, as root:
#   bash provision/box/build-debian-box.sh [OUT_DIR]      (default ~/.cache/nslab/box)
#   vagrant box add --name nslab/debian12 OUT_DIR/nslab-debian12.box
#   NSLAB_BOX=nslab/debian12 NSLAB_LIBVIRT_DRIVER=qemu vagrant up --provider=libvirt
# The box boots its own kernel directly (no bootloader), user vagrant with Vagrant's
# insecure public key and passwordless sudo, eth0 on DHCP, and the lab's tools installed.
set -euo pipefail
out=${1:-$HOME/.cache/nslab/box}
box="$out/nslab-debian12.box"
# The packages in the box; a box built with another list is rebuilt (its list is kept
# beside it), so a tool the lab gains reaches a cached box too.
# ufw, docker.io (dockerd, containerd, runc, tini) and busybox-static (Docker's offline
# image): the firewall managers lab hosts run (the VM lane runs the ufw+Docker story).
packages=systemd-sysv,openssh-server,sudo,iproute2,iptables,iputils-ping,ifupdown,isc-dhcp-client,linux-image-amd64,initramfs-tools,kmod,dnsmasq-base,python3,procps,util-linux,libc-bin,conntrack,nftables,ufw,docker.io,busybox-static
if [ -s "$box" ] && [ "$(cat "$box.packages" 2>/dev/null)" = "$packages" ]; then
  echo "box: $box exists (delete it to rebuild)"
  exit 0
fi
for tool in mmdebstrap mke2fs qemu-img tar; do
  command -v "$tool" >/dev/null || { echo "box: $tool is missing: apt-get install mmdebstrap e2fsprogs qemu-utils" >&2; exit 69; }
done
pubkey=${VAGRANT_PUBKEY:-$(find /usr/share/rubygems-integration /opt/vagrant /usr/share/vagrant -name vagrant.pub -path '*keys*' 2>/dev/null | head -n 1 || true)}
if [ -z "$pubkey" ] || [ ! -s "$pubkey" ]; then echo "box: Vagrant's insecure public key not found; set VAGRANT_PUBKEY" >&2; exit 69; fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
root="$work/root"
echo "box: debootstrapping Debian 12 (mmdebstrap, from Debian's packages)"
mmdebstrap --variant=minbase --mode=root --quiet \
  --include="$packages" \
  bookworm "$root"

echo "box: configuring the vagrant user, network and ssh"
# The Vagrantfile's hostname already: Vagrant then leaves the guest's network alone (its
# Debian hostname change restarts eth0's DHCP client under the running system).
echo nslab >"$root/etc/hostname"
printf '127.0.0.1 localhost\n127.0.1.1 nslab\n' >"$root/etc/hosts"
mkdir -p "$root/var/log/journal"  # a persistent journal: `journalctl -b -1` after a reset
printf '/dev/vda / ext4 defaults 0 1\n' >"$root/etc/fstab"
printf 'auto lo\niface lo inet loopback\nauto eth0\niface eth0 inet dhcp\n' >"$root/etc/network/interfaces"
chroot "$root" useradd --create-home --shell /bin/bash --password '*' vagrant
install -d -m 700 -o 1000 -g 1000 "$root/home/vagrant/.ssh"
install -m 600 -o 1000 -g 1000 "$pubkey" "$root/home/vagrant/.ssh/authorized_keys"
echo 'vagrant ALL=(ALL) NOPASSWD: ALL' >"$root/etc/sudoers.d/vagrant"
chmod 440 "$root/etc/sudoers.d/vagrant"
printf 'UseDNS no\n' >"$root/etc/ssh/sshd_config.d/nslab.conf"
rm -f "$root"/etc/ssh/ssh_host_*_key*  # fresh host keys on first boot
chroot "$root" systemctl enable ssh >/dev/null 2>&1 || true
# Docker runs only inside worlds (nslab.managers.docker): the VM's own dockerd would set
# its root namespace's FORWARD policy to DROP under the manual lab built there.
chroot "$root" systemctl --quiet disable docker.service docker.socket containerd.service
mkdir -p "$root/etc/systemd/system/ssh.service.d"
printf '[Service]\nExecStartPre=\nExecStartPre=/usr/bin/ssh-keygen -A\nExecStartPre=/usr/sbin/sshd -t\n' \
  >"$root/etc/systemd/system/ssh.service.d/keys.conf"
mkdir -p "$work/box"
cp "$root"/boot/vmlinuz-* "$work/box/vmlinuz"
cp "$root"/boot/initrd.img-* "$work/box/initrd.img"
rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/*

echo "box: making the disk image"
mke2fs -q -t ext4 -d "$root" -L root "$work/root.img" 2G
qemu-img convert -c -O qcow2 "$work/root.img" "$work/box/box.img"
printf '{"provider":"libvirt","format":"qcow2","virtual_size":2}\n' >"$work/box/metadata.json"
cat >"$work/box/Vagrantfile" <<'EOF_BOX'
# nslab's offline Debian 12 box: direct kernel boot, software emulation unless told otherwise.
Vagrant.configure("2") do |config|
  config.vm.provider :libvirt do |lv|
    lv.kernel = File.join(__dir__, "vmlinuz")
    lv.initrd = File.join(__dir__, "initrd.img")
    lv.cmd_line = "root=/dev/vda rw console=ttyS0 net.ifnames=0"
    lv.driver = ENV.fetch("NSLAB_LIBVIRT_DRIVER", "qemu")
    lv.disk_bus = "virtio"
  end
end
EOF_BOX
mkdir -p "$out"
tar -C "$work/box" -czf "$box.tmp" metadata.json Vagrantfile box.img vmlinuz initrd.img
mv "$box.tmp" "$box"
printf '%s\n' "$packages" >"$box.packages"
echo "box: $box ($(du -h "$box" | cut -f1)); add it with: vagrant box add --name nslab/debian12 $box"
