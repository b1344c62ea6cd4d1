"""The ssh target: any Linux machine over paramiko, one persistent connection per run.

On connect it uploads (once: content-addressed) the provision stages and the agent
(nslab/ontarget/agent.py), starts the agent as root (`sudo -n` when the login user is
not root) on one channel, and sends every command through it. Scenarios then make
worlds on the remote machine exactly as on the local target. If the connection drops,
the agent's stdin closes, so does every world holder's, and the remote worlds end:
nothing is left on the remote machine.

>>> opts = SshOptions(host="127.0.0.1", port=2222, user="root", key="id_ed25519")
>>> target = SshTarget.connect(opts)          # doctest: +SKIP
>>> target.run(["uname", "-r"]).stdout        # doctest: +SKIP
'6.8.0-45-generic\\n'
"""

from __future__ import annotations

import hashlib
import json
import os
import posixpath
import shlex
import socket
import stat
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

import paramiko

from nslab.commands import Command, CommandError, CommandLog, Result, as_argv, shown
from nslab.errors import TargetError
from nslab.machine.targets.base import missing_tool
from nslab.ontarget import agent
from nslab.paths import stage_dir

HOST_KEY_POLICIES = ("strict", "accept-new", "insecure")


@dataclass(frozen=True)
class SshOptions:
    """How to reach the machine. `host_key`: strict (default) rejects unknown keys,
    accept-new records them in known_hosts, insecure accepts without recording (for
    disposable VMs); a changed key is always an error."""

    host: str
    port: int = 22
    user: str = "root"
    key: str | None = None
    known_hosts: str | None = None
    host_key: str = "strict"
    connect_timeout: float = 10.0

    @property
    def where(self) -> str:
        return f"{self.user}@{self.host}:{self.port}"

    @classmethod
    def from_ssh_config(cls, path: str, alias: str, **overrides: Any) -> SshOptions:
        """From an OpenSSH config file, e.g. what `vagrant ssh-config` prints."""
        try:
            config = paramiko.SSHConfig.from_path(path)
        except OSError as exc:
            raise TargetError(f"cannot read ssh config {path}: {exc.strerror}", "check the path") from None
        if alias not in config.get_hostnames():
            raise TargetError(
                f"ssh config {path} has no 'Host {alias}' block",
                "use one of: " + ", ".join(sorted(h for h in config.get_hostnames() if h != "*")),
            )
        entry = config.lookup(alias)
        checking = str(entry.get("stricthostkeychecking", "yes")).lower()
        known = entry.get("userknownhostsfile")
        values: dict[str, Any] = {
            "host": entry.get("hostname", alias),
            "port": int(entry.get("port", 22)),
            "user": entry.get("user", "root"),
            "key": (entry.get("identityfile") or [None])[0],
            "known_hosts": None if known in (None, "/dev/null") else known.split()[0],
            "host_key": "insecure"
            if checking == "no"
            else "accept-new"
            if checking == "accept-new"
            else "strict",
        }
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)


class _AcceptWithoutRecording(paramiko.MissingHostKeyPolicy):
    def missing_host_key(self, client: paramiko.SSHClient, hostname: str, key: paramiko.PKey) -> None:
        return None


AGENT_START_TIMEOUT = 30.0  # seconds from the ssh command to the agent's ready line


def _bundle() -> tuple[str, dict[str, bytes]]:
    """The files a remote machine needs, and a hash of them (the upload's directory name)."""
    files = {name: Path(agent.__file__).with_name(name).read_bytes() for name in ("agent.py", "netprobe.py")}
    for path in sorted(stage_dir().rglob("*")):  # provision/ and anything below it
        rel = path.relative_to(stage_dir())
        if path.is_file() and (path.suffix == ".sh" or path.name == "README.md") and rel.parts[0] != "box":
            files[f"provision/{rel}"] = path.read_bytes()
    digest = hashlib.sha256()
    for name, data in sorted(files.items()):
        digest.update(name.encode() + b"\0" + data + b"\0")
    return digest.hexdigest()[:16], files


class RemoteChild:
    """A long-lived process on the remote machine, held by the agent (a world's holder)."""

    def __init__(self, target: SshTarget, handle: int) -> None:
        self.target = target
        self.handle = handle

    def _op(self, op: str, **kw: Any) -> Any:
        return self.target.request(
            {"op": op, "handle": self.handle, **kw}, timeout=kw.get("timeout", 10) + 15
        )["value"]

    def readline(self, timeout: float) -> str:
        return str(self._op("readline", timeout=timeout))

    def write(self, data: str) -> None:
        self._op("write", data=data)

    def read_rest(self) -> str:
        return str(self._op("read_rest"))

    def close_stdin(self) -> None:
        self._op("close_stdin")

    def wait(self, timeout: float) -> int | None:
        value = self._op("wait", timeout=timeout)
        return None if value is None else int(value)

    def kill(self) -> None:
        if self.target.alive:
            self._op("kill")


class SshTarget:
    """Runs commands on a remote machine through one ssh connection and one agent."""

    name = "ssh"

    def __init__(self, options: SshOptions, client: paramiko.SSHClient) -> None:
        self.options = options
        self.client = client
        self.log = CommandLog()
        self.is_root = True  # the agent runs as root (directly or through sudo -n)
        self.provision_dir = ""
        self.python = "python3"  # the agent's own interpreter, once it has started
        self.uploaded = False  # whether this connection had to upload the bundle
        self._channel: paramiko.Channel | None = None
        self._reader: Any = None
        self._next_id = 0
        self.alive = False

    # --- connecting ----------------------------------------------------------------------

    @classmethod
    def connect(cls, options: SshOptions) -> SshTarget:
        if options.host_key not in HOST_KEY_POLICIES:
            raise TargetError(
                f"unknown host_key policy '{options.host_key}'", "use one of: " + ", ".join(HOST_KEY_POLICIES)
            )
        client = paramiko.SSHClient()
        known = options.known_hosts or os.path.expanduser("~/.ssh/known_hosts")
        if os.path.exists(known):
            client.load_host_keys(known)
        policy = {
            "strict": paramiko.RejectPolicy(),
            "accept-new": paramiko.AutoAddPolicy(),
            "insecure": _AcceptWithoutRecording(),
        }[options.host_key]
        client.set_missing_host_key_policy(policy)
        where = options.where
        try:
            client.connect(
                options.host,
                port=options.port,
                username=options.user,
                key_filename=options.key,
                look_for_keys=options.key is None,
                allow_agent=options.key is None,
                timeout=options.connect_timeout,
                banner_timeout=options.connect_timeout,
                auth_timeout=options.connect_timeout,
            )
        except paramiko.BadHostKeyException as exc:
            client.close()
            raise TargetError(
                f"the host key of {options.host}:{options.port} has CHANGED (got {exc.key.get_name()} "
                f"{exc.key.get_fingerprint().hex()}); someone may be intercepting the connection, "
                "or the machine was rebuilt",
                f"if the machine was rebuilt, remove its old key from {known}",
            ) from None
        except paramiko.AuthenticationException as exc:
            client.close()
            raise TargetError(
                f"ssh authentication as {options.user} on {options.host}:{options.port} failed: {exc}",
                "check -D user=... and -D key=... (the key must be in the remote authorized_keys)",
            ) from None
        except paramiko.SSHException as exc:
            client.close()
            if "not found in known_hosts" in str(exc):
                raise TargetError(
                    f"{options.host}:{options.port} is not a known host (its key is not in {known})",
                    "add it with ssh-keyscan, pass -D known_hosts=FILE, or accept it: "
                    "-D host_key=accept-new (records it) or -D host_key=insecure (disposable VMs only)",
                ) from None
            raise TargetError(f"ssh to {where} failed: {exc}", "check that sshd runs there") from None
        except TimeoutError:
            client.close()
            raise TargetError(
                f"ssh to {where} timed out after {options.connect_timeout:g} s",
                "check the address and port, and that nothing filters it",
            ) from None
        except OSError as exc:
            client.close()
            raise TargetError(
                f"cannot reach {options.host}:{options.port}: {exc.strerror or exc}",
                "check the address and port, and that sshd is running there",
            ) from None
        if options.host_key == "accept-new" and options.known_hosts:
            client.save_host_keys(options.known_hosts)
        transport = client.get_transport()
        assert transport is not None
        transport.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # type: ignore[union-attr]
        transport.set_keepalive(5)
        target = cls(options, client)
        try:
            target._upload()
            target._start_agent()
        except BaseException:
            client.close()
            raise
        return target

    def _upload(self) -> None:
        """Put the agent and stages in ~/.cache/nslab/HASH once; a second run uploads nothing."""
        digest, files = _bundle()
        try:
            sftp = self.client.open_sftp()
        except paramiko.SSHException as exc:
            raise TargetError(
                f"{self.options.host} offers no SFTP ({exc}); nslab uploads its stages with it",
                "enable it in sshd_config: Subsystem sftp internal-sftp",
            ) from None
        try:
            home = sftp.normalize(".")
            base = posixpath.join(home, ".cache", "nslab", digest)
            self.provision_dir = posixpath.join(base, "provision")
            try:
                sftp.stat(posixpath.join(base, ".complete"))
                return
            except OSError:
                pass
            made: set[str] = set()
            for folder in sorted({posixpath.dirname(n) for n in files}):  # provision/ and any folder below it
                path = home
                for part in (".cache", "nslab", digest, *filter(None, folder.split("/"))):
                    path = posixpath.join(path, part)
                    if path in made:
                        continue
                    try:
                        sftp.stat(path)
                    except OSError:
                        sftp.mkdir(path, 0o755)
                    made.add(path)
            for name, data in files.items():
                with sftp.open(posixpath.join(base, name), "wb") as fh:
                    fh.write(data)
                sftp.chmod(posixpath.join(base, name), 0o755 if name.endswith(".sh") else 0o644)
            with sftp.open(posixpath.join(base, ".complete"), "wb") as fh:
                fh.write(b"ok\n")
            sftp.chmod(base, stat.S_IRWXU | stat.S_IRGRP | stat.S_IXGRP | stat.S_IROTH | stat.S_IXOTH)
            self.uploaded = True
        finally:
            sftp.close()

    def _start_agent(self) -> None:
        agent_py = shlex.quote(posixpath.join(posixpath.dirname(self.provision_dir), "agent.py"))
        command = (
            f'if [ "$(id -u)" = 0 ]; then exec python3 -u {agent_py}; '
            f"else exec sudo -n python3 -u {agent_py}; fi"
        )
        transport = self.client.get_transport()
        assert transport is not None
        channel = transport.open_session()
        channel.settimeout(AGENT_START_TIMEOUT)
        channel.exec_command(command)
        self._channel = channel
        self._reader = channel.makefile("rb")
        try:
            line = self._reader.readline()
        except TimeoutError:
            channel.close()
            self._fail_slow_start()
        if not line.startswith(b'{"ready"'):
            try:
                err = channel.makefile_stderr("rb").read().decode(errors="replace").strip()
            except TimeoutError:
                err = ""
            self._fail_start(err or line.decode(errors="replace").strip())
        self.python = str(json.loads(line).get("executable") or "python3")
        self.alive = True

    def _fail_slow_start(self) -> NoReturn:
        o = self.options
        raise TargetError(
            f"nslab's agent on {o.host} gave no answer within {AGENT_START_TIMEOUT:g} s: the login"
            f" shell is slow or stuck ({o.user}'s ~/.bashrc runs on every ssh command; a stale lock"
            " there, such as pyenv's ~/.pyenv/shims/.pyenv-shim, waits a minute)",
            f"time it: ssh -p {o.port} {o.user}@{o.host} true",
        )

    def _fail_start(self, err: str) -> None:
        o = self.options
        if "password is required" in err or "a terminal is required" in err:
            raise TargetError(
                f"sudo on {o.host} needs a password for {o.user}; nslab needs root there",
                f"allow passwordless sudo for {o.user} (NOPASSWD in /etc/sudoers.d), or log in as root",
            )
        if "sudo" in err and "not found" in err:
            raise TargetError(
                f"{o.user} is not root on {o.host} and sudo is not installed",
                "log in as root (-D user=root) or install sudo there",
            )
        if "python3" in err and ("not found" in err or "No such file" in err):
            raise TargetError(
                f"python3 is not installed on {o.host}; nslab's agent needs it",
                "apt-get install python3-minimal there",
            )
        raise TargetError(
            f"could not start nslab's agent on {o.host}: {err or 'no output'}",
            f"try: ssh -p {o.port} {o.user}@{o.host} python3 --version",
        )

    # --- the protocol -------------------------------------------------------------------

    def request(
        self, req: dict[str, Any], *, timeout: float, on_output: Callable[[str, str], None] | None = None
    ) -> dict[str, Any]:
        """One request to the agent and its reply; a lost connection is one clear error."""
        if not self.alive or self._channel is None:
            raise self._lost("the connection is closed")
        self._next_id += 1
        rid = self._next_id
        try:
            self._channel.settimeout(timeout)
            self._channel.sendall(json.dumps({"id": rid, **req}).encode() + b"\n")
            # A long command's output arrives in pieces first; the final reply holds only
            # the rest, so the pieces are joined back in front of it.
            streamed: dict[str, list[str]] = {"stdout": [], "stderr": []}
            while True:
                line = self._reader.readline()
                if not line:
                    raise self._lost("the agent's channel closed")
                reply = json.loads(line)
                if "stream" in reply:
                    streamed.setdefault(reply["stream"], []).append(reply["data"])
                    if on_output:
                        on_output(reply["stream"], reply["data"])
                    continue
                if reply.get("id") == rid:
                    for name, pieces in streamed.items():
                        if pieces and name in reply:
                            reply[name] = "".join(pieces) + reply[name]
                    return reply
        except TimeoutError:
            raise self._lost(f"no answer within {timeout:g} s") from None
        except (OSError, EOFError, paramiko.SSHException) as exc:
            raise self._lost(str(exc) or type(exc).__name__) from None

    def _lost(self, why: str) -> TargetError:
        self.alive = False
        return TargetError(
            f"lost the ssh connection to {self.options.where}: {why}",
            "check that the machine and its sshd are up; its worlds ended with the connection, "
            "so the next run starts clean",
        )

    def run(
        self,
        cmd: Command,
        *,
        ns: str | None = None,
        env: Mapping[str, str] | None = None,
        stdin: str | None = None,
        timeout: float = 60.0,
        check: bool = False,
        on_output: Callable[[str, str], None] | None = None,
    ) -> Result:
        argv = as_argv(cmd, ns)
        reply = self.request(
            {"op": "run", "argv": argv, "env": dict(env or {}), "stdin": stdin, "timeout": timeout},
            timeout=timeout + 15,
            on_output=on_output,
        )
        if reply.get("error") == "notfound":
            raise missing_tool(argv[0], self.options.host)
        if "error" in reply:
            raise TargetError(f"agent on {self.options.host}: {reply['message']}")
        result = Result.from_agent(shown(cmd, ns), reply)
        self.log.add(result)
        if check and not result.ok:
            raise CommandError(result)
        return result

    def spawn(self, argv: Sequence[str], *, detach: bool = False) -> RemoteChild:
        reply = self.request({"op": "spawn", "argv": list(argv), "detach": detach}, timeout=30)
        if reply.get("error") == "notfound":
            raise missing_tool(argv[0], self.options.host)
        if "error" in reply:
            raise TargetError(f"agent on {self.options.host}: {reply['message']}")
        return RemoteChild(self, int(reply["handle"]))

    disposable = False  # someone's machine; the vagrant target's VM is disposable

    def read_text(self, path: str) -> str:
        r = self.run(["cat", path])
        return r.stdout if r.ok else ""

    def kill(self, pid: int, sig: int) -> None:
        self.run(["kill", f"-{sig}", str(pid)])

    def helper(self, name: str) -> list[str]:
        """Uploaded beside the agent; run by the agent's own interpreter (-I -S: ~20 ms)."""
        return [self.python, "-I", "-S", posixpath.join(posixpath.dirname(self.provision_dir), name)]

    def put(self, path: str, data: bytes, mode: int = 0o644) -> None:
        self.run(
            ["sh", "-c", 'cat > "$1" && chmod "$2" "$1"', "put", path, oct(mode)[2:]],
            stdin=data.decode(),
            check=True,
        )

    def close(self) -> None:
        """Close the agent's stdin: it exits, and every world it held ends with it."""
        self.alive = False
        if self._channel is not None:
            try:
                self._channel.shutdown_write()
                self._channel.status_event.wait(5)
            except (OSError, paramiko.SSHException):
                pass
            self._channel.close()
            self._channel = None
        self.client.close()
