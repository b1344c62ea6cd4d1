"""A throwaway OpenSSH server on 127.0.0.1, for the ssh target's tests and benchmarks.

Fresh host and client keys per instance, a config of its own, and a process that the
caller owns and stops by PID (with the session processes it forked). No traffic leaves
loopback.

>>> with TestSshd.start(Path("/tmp/x"), users=["root"]) as sshd:   # doctest: +SKIP
...     SshTarget.connect(sshd.options("root"))
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from nslab.errors import TargetError
from nslab.machine.targets.ssh import SshOptions
from support.procs import comm, descendants

CONFIG = """\
Port {port}
ListenAddress 127.0.0.1
HostKey {dir}/host_ed25519
PidFile {dir}/sshd.pid
AuthorizedKeysFile {dir}/authorized/%u
StrictModes no
UsePAM no
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin prohibit-password
Subsystem sftp internal-sftp
MaxSessions 64
MaxStartups 64
LogLevel VERBOSE
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def sshd_binary() -> str | None:
    return shutil.which("sshd") or next((p for p in ("/usr/sbin/sshd",) if os.path.exists(p)), None)


def _keygen(path: Path) -> None:
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(path)], check=True)


@dataclass
class TestSshd:
    __test__ = False  # not a pytest test class

    dir: Path
    port: int
    proc: subprocess.Popen[bytes]
    client_key: Path
    host_public: str
    users: list[str] = field(default_factory=list)

    @classmethod
    def start(cls, directory: Path, users: list[str], extra: str = "") -> TestSshd:
        """`extra`: sshd_config lines of this server's own (`SetEnv PATH=...`: a target whose
        sessions see other programs than this machine)."""
        binary = sshd_binary()
        if binary is None:
            raise TargetError("sshd is not installed", "apt-get install openssh-server")
        directory.mkdir(parents=True, exist_ok=True)
        (directory / "authorized").mkdir(exist_ok=True)
        _keygen(directory / "host_ed25519")
        client_key = directory / "client_ed25519"
        _keygen(client_key)
        public = (directory / "client_ed25519.pub").read_text()
        for user in users:
            (directory / "authorized" / user).write_text(public)
        port = free_port()
        (directory / "sshd_config").write_text(CONFIG.format(port=port, dir=directory) + extra)
        Path("/run/sshd").mkdir(exist_ok=True)  # privilege separation directory
        log = open(directory / "sshd.log", "wb")  # noqa: SIM115 - sshd writes to it until stopped
        proc = subprocess.Popen(
            [binary, "-D", "-e", "-f", str(directory / "sshd_config")], stdout=log, stderr=subprocess.STDOUT
        )
        host_public = (directory / "host_ed25519.pub").read_text().split()
        sshd = cls(directory, port, proc, client_key, f"{host_public[0]} {host_public[1]}", users)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise TargetError(f"test sshd exited: {(directory / 'sshd.log').read_text()[-500:]}")
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    return sshd
            time.sleep(0.02)
        sshd.stop()
        raise TargetError("test sshd did not start listening within 10 s")

    def options(self, user: str = "root", **overrides: object) -> SshOptions:
        values: dict[str, object] = {
            "host": "127.0.0.1",
            "port": self.port,
            "user": user,
            "key": str(self.client_key),
            "known_hosts": str(self.known_hosts()),
        }
        values.update(overrides)
        return SshOptions(**values)  # type: ignore[arg-type]

    def known_hosts(self) -> Path:
        path = self.dir / "known_hosts"
        if not path.exists():
            path.write_text(f"[127.0.0.1]:{self.port} {self.host_public}\n")
        return path

    def userdata(self, user: str = "root") -> list[str]:
        """behave -D arguments that point the ssh target here."""
        return [
            "-D",
            "target=ssh",
            "-D",
            "host=127.0.0.1",
            "-D",
            f"port={self.port}",
            "-D",
            f"user={user}",
            "-D",
            f"key={self.client_key}",
            "-D",
            f"known_hosts={self.known_hosts()}",
        ]

    def session_pids(self) -> list[int]:
        """The per-connection sshd processes this server forked (descendants, by PID)."""
        return descendants(self.proc.pid)

    def _signal_sshd(self, pids: list[int], sig: int) -> None:
        """Signal those of `pids` that are still sshd processes (ours, by PID)."""
        for pid in pids:
            if comm(pid).startswith("sshd"):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, sig)

    def kill_all(self) -> None:
        """Like a crash: SIGKILL to the listener and every session process it forked."""
        self._signal_sshd([self.proc.pid, *self.session_pids()], signal.SIGKILL)
        self.proc.wait()

    def stop(self) -> None:
        sessions = self.session_pids()
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._signal_sshd(sessions, signal.SIGTERM)

    def __enter__(self) -> TestSshd:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
