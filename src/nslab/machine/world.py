"""Worlds: a disposable network + mount + PID namespace per scenario, on any target.

The world's root network namespace plays the seed's "host" (its own FORWARD chain,
sysctls, bridge), so scenarios do what the blog does without touching the real host.
One process holds the world: PID 1 of its PID namespace. When it ends, the kernel kills
everything inside (dnsmasq included) and frees the lab namespaces, whose /run/netns
mounts live only in the world's private tmpfs. The holder ends when:
- its stdin reaches EOF (we close it, or our process dies and the kernel closes it), or
- `unshare --kill-child` forwards SIGKILL, which PR_SET_PDEATHSIG sends when we die.
Either way nothing leaks, even after `kill -9` of the test run.

>>> from nslab.machine.targets.local import LocalTarget
>>> with World.start(LocalTarget()) as w:          # doctest: +SKIP
...     w.run(["ip", "-o", "link"]).stdout
'1: lo: <LOOPBACK> mtu 65536 ...'
"""

from __future__ import annotations

import dataclasses
import signal
import time
from collections.abc import Mapping
from dataclasses import dataclass

from nslab.commands import Command, CommandError, Result, as_argv, shown
from nslab.errors import TargetError
from nslab.machine.targets.base import Spawned, Target

READY = "nslab-world-ready"

# Runs as PID 1 of the world. Its own /proc (PIDs as the world sees them: libvirtd and
# others read /proc/PID/...), own tmpfs for /run (so /run/netns and lock files are
# private) and for /etc/netns; a resolv.conf like Ubuntu's stub (127.0.0.53), which lab
# namespaces cannot reach: DNS inside them fails until the dns stage gives them a
# resolver, exactly as in the seed. Loopback up, as on any host. Then report our
# host-visible PID and wait. bash, not sh: as PID 1 it must reap the orphans that daemons
# leave (bash reaps on SIGCHLD even while blocked in `read`; dash does not, and libvirtd
# then waits forever for its probe processes to vanish).
HOLDER_SCRIPT = r"""
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
"""

HOST_FS = ("ro", "rw")  # the host's files inside a world (see READ_ONLY_FIX for what stays writable)


@dataclass
class WorldInfo:
    """Enough to find a persistent world again from another process (`nslab up`)."""

    pid: int  # host-visible PID of the world's PID 1
    starttime: str  # /proc/PID/stat field 22: guards against PID reuse
    userns: bool


class World:
    """A disposable namespace world on a target; implements the target protocol inside it."""

    def __init__(self, target: Target, info: WorldInfo, holder: Spawned | None = None) -> None:
        self.target = target
        self.info = info
        self._holder = holder
        self.name = f"{target.name}:world-{info.pid}"
        self.is_root = True
        self.log = target.log
        self.provision_dir = target.provision_dir
        self.closed = False
        self.persistent = False

    # --- life cycle -------------------------------------------------------------------

    @classmethod
    def start(
        cls, target: Target, *, persistent: bool = False, host_fs: str = "ro", timeout: float = 10.0
    ) -> World:
        """Make a world; persistent ones outlive this process (for `nslab up`)."""
        return cls.begin(target, persistent=persistent, host_fs=host_fs).ready(timeout)

    @classmethod
    def begin(cls, target: Target, *, persistent: bool = False, host_fs: str = "ro") -> PendingWorld:
        """Start a world's holder without waiting for it: a session prepares the next
        scenario's world while the current one runs. `host_fs="ro"` (the default) shows the
        host's files read-only inside it, with private writable /tmp, /run and /etc/netns;
        "rw" is for the rare lab that must write to the machine (the VM lane's libvirtd)."""
        if host_fs not in HOST_FS:
            raise TargetError(
                f"host_fs={host_fs!r} is not ro or rw", "use host_fs=ro (default) or host_fs=rw"
            )
        userns = not target.is_root
        _ensure_etc_netns(target)
        argv = ["unshare", "--net", "--mount", "--pid", "--fork", "--kill-child", "--propagation", "private"]
        if userns:
            argv[1:1] = ["--user", "--map-root-user"]
        argv += [
            "bash",
            "-c",
            HOLDER_SCRIPT,
            "nslab-world",
            "persistent" if persistent else "scenario",
            host_fs,
        ]
        return PendingWorld(target, target.spawn(argv, detach=persistent), persistent, userns)

    @classmethod
    def attach(cls, target: Target, info: WorldInfo) -> World:
        """Re-open a persistent world by its recorded PID, if that very process still lives."""
        if _starttime(target, info.pid) != info.starttime:
            raise TargetError(
                f"the lab world (pid {info.pid}) is no longer running", "start one with `nslab up`"
            )
        return cls(target, info)

    def alive(self) -> bool:
        return not self.closed and _starttime(self.target, self.info.pid) == self.info.starttime

    def close(self) -> None:
        """End the world and wait for it: every namespace, link and process in it goes."""
        if self.closed:
            return
        self.closed = True
        holder, self._holder = self._holder, None
        if holder is not None and not self.persistent:
            holder.close_stdin()  # the holder's `read` sees EOF and PID 1 exits
            if holder.wait(5.0) is None:
                holder.kill()
            holder.kill()  # reaps it and closes our pipe ends; harmless once it exited
            return
        # A persistent world: SIGKILL to its PID 1 ends the whole PID namespace.
        if _starttime(self.target, self.info.pid) == self.info.starttime:
            self.target.kill(self.info.pid, signal.SIGKILL)
        deadline = time.monotonic() + 5
        while _starttime(self.target, self.info.pid) == self.info.starttime and time.monotonic() < deadline:
            time.sleep(0.01)
        if holder is not None:
            holder.kill()

    def __enter__(self) -> World:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- running commands inside ----------------------------------------------------------

    def enter(self, argv: list[str], ns: str | None = None) -> list[str]:
        """argv that runs `argv` in the world (and in lab namespace `ns`, if given)."""
        # --root --wd: the holder's root and working directory. Without them, entering the
        # mount namespace resets the root to the namespace's real root: under a chroot
        # (schroot, sbuild) every command then ran the host's binaries on the host's files.
        prefix = ["nsenter", "--target", str(self.info.pid), "--net", "--mount", "--pid", "--root", "--wd"]
        if self.info.userns:
            prefix.insert(3, "--user")
            prefix.append("--preserve-credentials")
        return [*prefix, "--", *as_argv(argv, ns)]

    def run(
        self,
        cmd: Command,
        *,
        ns: str | None = None,
        env: Mapping[str, str] | None = None,
        stdin: str | None = None,
        timeout: float = 60.0,
        check: bool = False,
    ) -> Result:
        """Run in the world's root namespace (the seed's host) or in lab namespace `ns`."""
        if self.closed:
            raise TargetError("this world is closed", "start a new one")
        result = self.target.run(self.enter(as_argv(cmd), ns), env=env, stdin=stdin, timeout=timeout)
        # Log and report the command as the user wrote it, not the nsenter wrapping.
        result = dataclasses.replace(result, command=shown(cmd, ns))
        self.log.entries[-1] = result
        if check and not result.ok:
            raise CommandError(result)
        return result

    def spawn(self, argv: list[str], *, detach: bool = False) -> Spawned:
        return self.target.spawn(self.enter(argv), detach=detach)

    def put(self, path: str, data: bytes, mode: int = 0o644) -> None:
        self.run(
            ["sh", "-c", 'cat > "$1" && chmod "$2" "$1"', "put", path, oct(mode)[2:]],
            stdin=data.decode(),
            check=True,
        )


@dataclass
class PendingWorld:
    """A world whose holder was started; `ready()` waits for it, `cancel()` ends it."""

    target: Target
    holder: Spawned
    persistent: bool
    userns: bool

    def ready(self, timeout: float = 10.0) -> World:
        line = self.holder.readline(timeout)
        if not line.startswith(READY):
            rest = line + (self.holder.read_rest() if self.holder.wait(2) is not None else "")
            self.holder.kill()
            if "cannot change root filesystem propagation" in rest:
                # unshare's own words when / is a plain directory someone chroot()ed into
                raise TargetError(
                    f"nslab runs inside a chroot on {self.target.name} whose root is not a mount "
                    "point, where no mount namespace (so no world) can be made",
                    "bind-mount the chroot onto itself before entering it (mount --bind DIR DIR), "
                    "or use a container-style root (pivot_root)",
                )
            raise TargetError(
                f"could not create a namespace world on {self.target.name}: {rest.strip() or 'no output'}",
                "run as root, or enable unprivileged user namespaces "
                "(sysctl kernel.unprivileged_userns_clone=1); `nslab doctor` checks this"
                if self.userns
                else "run `nslab doctor` to check kernel features and tools",
            )
        pid = int(line.split()[1])
        info = WorldInfo(pid=pid, starttime=_starttime(self.target, pid), userns=self.userns)
        world = World(self.target, info, self.holder)
        world.persistent = self.persistent
        return world

    def cancel(self) -> None:
        self.holder.close_stdin()
        self.holder.kill()


_etc_netns_ready: set[int] = set()


def _ensure_etc_netns(target: Target) -> None:
    """`ip netns exec` binds /etc/netns/NAME/*; worlds mount their own tmpfs over
    /etc/netns, so the directory must exist on the machine (an empty dir, nothing more).
    Checked once per target."""
    if id(target) in _etc_netns_ready:
        return
    if not target.run(["test", "-d", "/etc/netns"]).ok:
        if not target.is_root:
            raise TargetError(
                "/etc/netns does not exist and only root can create it",
                "create it once as root: mkdir /etc/netns",
            )
        target.run(["mkdir", "-p", "/etc/netns"], check=True)
    _etc_netns_ready.add(id(target))


def _starttime(target: Target, pid: int) -> str:
    """Field 22 of /proc/PID/stat ('' if gone or a zombie): with the PID, one process."""
    stat = target.read_text(f"/proc/{pid}/stat")
    fields = stat.rsplit(")", 1)[-1].split() if ")" in stat else []
    return fields[19] if len(fields) > 19 and fields[0] != "Z" else ""
