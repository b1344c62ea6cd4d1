"""The ssh target against a real OpenSSH sshd on 127.0.0.1: the suite, and every fault."""

from __future__ import annotations

import socket
import subprocess
import threading
import time
from pathlib import Path

import pytest
from conftest import (
    HERE_FEATURES,
    MANAGER_STORIES,
    NOPW_USER,
    ROOT,
    SEED_STORY,
    SUDO_USER,
    count_scenarios,
    host_snapshot,
    needs_sshd,
    run_behave,
)
from support.procs import comm, wait_gone
from support.sshd import TestSshd, free_port

from nslab.commands import CommandError
from nslab.errors import TargetError
from nslab.machine.targets.ssh import SshOptions, SshTarget
from nslab.machine.world import World

pytestmark = needs_sshd


def scenario_counts(stdout: str) -> tuple[int, int]:
    import re

    m = re.search(r"(\d+) scenarios? passed, (\d+) failed", stdout)
    assert m, stdout[-2000:]
    return int(m[1]), int(m[2])


def test_every_story_but_the_managers_runs_over_ssh_as_root(sshd: TestSshd, tmp_path: Path) -> None:
    """Every story of features/ but the managers' and Docker's, which run over ssh as a sudo
    user in tests/ssh/test_managers_over_ssh.py (watching their daemons): between the two,
    every scenario of features/ runs over ssh, none skipped."""
    before = host_snapshot()
    stories = sorted(
        str(p.relative_to(ROOT))
        for p in (ROOT / "features").iterdir()
        if (p.suffix == ".feature" or p.is_dir()) and str(p.relative_to(ROOT)) not in MANAGER_STORIES
    )
    assert "features/dmz" in stories and set(SEED_STORY) <= set(stories)
    assert count_scenarios(*stories) + count_scenarios(*MANAGER_STORIES) == count_scenarios()
    r = run_behave(*stories, "-f", "progress", *sshd.userdata("root"), "-D", f"reports={tmp_path}")
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-2000:]
    passed, failed = scenario_counts(r.stdout)
    assert (passed, failed) == (count_scenarios(*stories), 0), r.stdout[-3000:]
    assert host_snapshot() == before  # the remote machine (this one) is untouched


def test_whole_suite_over_ssh_as_a_sudo_user(sshd: TestSshd, test_users: list[str], tmp_path: Path) -> None:
    if SUDO_USER not in test_users:
        pytest.skip("sudo is not installed")
    # the seed story: what differs as a sudo user is how commands are run, not the stories
    # (the stories run over ssh as root above and, the managers', in test_managers_over_ssh.py)
    r = run_behave(*SEED_STORY, "-f", "progress", *sshd.userdata(SUDO_USER), "-D", f"reports={tmp_path}")
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-2000:]
    assert scenario_counts(r.stdout)[1] == 0


def test_one_connection_and_a_second_run_uploads_nothing(sshd: TestSshd) -> None:
    first = SshTarget.connect(sshd.options())
    try:
        transport = first.client.get_transport()
        assert transport is not None
        for _ in range(20):
            first.run(["true"], check=True)
        assert first.client.get_transport() is transport  # the same connection throughout
    finally:
        first.close()
    second = SshTarget.connect(sshd.options())
    try:
        assert second.uploaded is False
        assert second.run(["test", "-f", f"{second.provision_dir}/30-firewall.sh"]).ok
    finally:
        second.close()


def test_wrong_key_is_an_authentication_error(sshd: TestSshd, tmp_path: Path) -> None:
    other = tmp_path / "other_key"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(other)], check=True)
    with pytest.raises(TargetError, match=r"authentication as root .* failed.*fix: check -D user"):
        SshTarget.connect(sshd.options(key=str(other)))


def test_unknown_host_key_is_rejected_by_default(sshd: TestSshd, tmp_path: Path) -> None:
    empty = tmp_path / "known_hosts"
    empty.write_text("")
    with pytest.raises(TargetError) as err:
        SshTarget.connect(sshd.options(known_hosts=str(empty)))
    assert "is not a known host" in str(err.value) and "-D host_key=accept-new" in str(err.value)


def test_accept_new_records_the_key_for_next_time(sshd: TestSshd, tmp_path: Path) -> None:
    known = tmp_path / "known_hosts"
    known.write_text("")
    SshTarget.connect(sshd.options(known_hosts=str(known), host_key="accept-new")).close()
    assert sshd.host_public.split()[1] in known.read_text()
    SshTarget.connect(sshd.options(known_hosts=str(known))).close()  # strict now passes


def test_changed_host_key_is_always_an_error(sshd: TestSshd, tmp_path: Path) -> None:
    forged = tmp_path / "forged"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(forged)], check=True)
    kind, blob = (tmp_path / "forged.pub").read_text().split()[:2]
    known = tmp_path / "known_hosts"
    known.write_text(f"[127.0.0.1]:{sshd.port} {kind} {blob}\n")
    for policy in ("strict", "accept-new", "insecure"):
        with pytest.raises(TargetError, match="has CHANGED"):
            SshTarget.connect(sshd.options(known_hosts=str(known), host_key=policy))


def test_connection_refused_fails_at_once() -> None:
    start = time.monotonic()
    with pytest.raises(TargetError, match=r"cannot reach 127\.0\.0\.1"):
        SshTarget.connect(SshOptions(host="127.0.0.1", port=free_port(), connect_timeout=5))
    assert time.monotonic() - start < 3


def test_a_silent_host_times_out_within_the_connect_timeout() -> None:
    """A listener that accepts and never speaks ssh: a hung host, on loopback."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    held: list[socket.socket] = []
    threading.Thread(target=lambda: held.append(listener.accept()[0]), daemon=True).start()
    start = time.monotonic()
    try:
        with pytest.raises(TargetError, match=r"timed out|failed"):
            SshTarget.connect(SshOptions(host="127.0.0.1", port=listener.getsockname()[1], connect_timeout=1))
        assert time.monotonic() - start < 5
    finally:
        for s in [*held, listener]:
            s.close()


def test_sudo_needing_a_password_is_named(sshd: TestSshd, test_users: list[str]) -> None:
    if NOPW_USER not in test_users:
        pytest.skip("sudo is not installed")
    with pytest.raises(TargetError, match=f"sudo on 127.0.0.1 needs a password for {NOPW_USER}"):
        SshTarget.connect(sshd.options(NOPW_USER))


def test_an_agent_that_does_not_answer_in_time_is_named(
    sshd: TestSshd, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A real login whose agent cannot be ready in 10 ms (python3 alone takes longer), as a
    # login shell stuck on a stale lock would be: one clear error, not a TimeoutError.
    import nslab.machine.targets.ssh as ssh_module

    monkeypatch.setattr(ssh_module, "AGENT_START_TIMEOUT", 0.01)
    with pytest.raises(TargetError, match=r"gave no answer within 0.01 s: the login shell is slow"):
        SshTarget.connect(sshd.options())


def test_commands_on_the_target_do_not_read_the_login_users_bashrc(sshd: TestSshd, tmp_path: Path) -> None:
    # bash -c under an ssh session's environment reads ~/.bashrc; the agent's commands (world
    # holders, stages) must not: a user's rc file there is slow and may take locks.
    home = tmp_path / "home"
    home.mkdir()
    (home / ".bashrc").write_text("echo rc-was-read\n")
    home.chmod(0o755)
    tmp_path.chmod(0o755)
    target = SshTarget.connect(sshd.options())
    try:
        r = target.run(["bash", "-c", "echo ran"], env={"HOME": str(home)})
        assert r.stdout.split() == ["ran"], r.stdout
        with World.start(target) as world:
            assert world.run(["bash", "-c", "echo ${SSH_CLIENT-unset}"]).stdout.strip() == "unset"
    finally:
        target.close()


def test_command_timeout_kills_the_remote_command(sshd: TestSshd) -> None:
    target = SshTarget.connect(sshd.options())
    try:
        with World.start(target) as world:
            start = time.monotonic()
            r = world.run(["sleep", "30"], timeout=0.5)
            assert r.timed_out and time.monotonic() - start < 5
            left = world.run(["sh", "-c", "ps -eo comm,args | grep -c '^sleep *sleep 30' || true"]).stdout
            assert left.strip() == "0"
            assert world.run(["true"]).ok  # the connection is still fine
    finally:
        target.close()


def test_missing_remote_tool_is_named_with_its_package(sshd: TestSshd) -> None:
    target = SshTarget.connect(sshd.options())
    try:
        with pytest.raises(
            TargetError, match=r"'no-such-tool' is not installed on 127\.0\.0\.1.*nslab doctor"
        ):
            target.run(["no-such-tool"])
        with World.start(target) as world, pytest.raises(CommandError) as err:
            world.run(["bash", "-c", "dnsmasq-nonexistent --version"], check=True)
        assert "dnsmasq-nonexistent is missing" in str(err.value) and "nslab doctor" in str(err.value)
        # ns= on the ssh target is `ip netns exec` there, as on every runner (a missing name:
        # nothing is added to the machine)
        r = target.run(["true"], ns="nslab-no-such-ns")
        assert not r.ok and "Cannot open network namespace" in r.stderr, r.output
    finally:
        target.close()


def test_long_output_streams_while_the_command_runs(sshd: TestSshd) -> None:
    target = SshTarget.connect(sshd.options())
    seen: list[tuple[float, str]] = []
    try:
        start = time.monotonic()
        r = target.run(
            ["sh", "-c", "for i in 1 2 3 4 5 6; do echo line$i; sleep 0.3; done"],
            on_output=lambda stream, data: seen.append((time.monotonic() - start, data)),
        )
        total = time.monotonic() - start
        # A command slower than the agent's streaming threshold, with no one listening: its
        # result must still hold all of its output (pieces streamed early included).
        quiet = target.run(["sh", "-c", "echo first; sleep 1.4; echo second >&2; echo third"])
    finally:
        target.close()
    want = "".join(f"line{i}\n" for i in range(1, 7))
    assert r.ok
    assert r.stdout == want, "the result holds the whole output"
    assert "".join(d for _, d in seen) == want, "and every piece was streamed"
    assert seen and seen[0][0] < total - 0.3  # output arrived before the command ended
    assert (quiet.stdout, quiet.stderr) == ("first\nthird\n", "second\n")


def test_ssh_config_block_like_vagrant_prints(sshd: TestSshd, tmp_path: Path) -> None:
    config = tmp_path / "ssh_config"
    config.write_text(
        f"Host default\n  HostName 127.0.0.1\n  User root\n  Port {sshd.port}\n"
        f"  UserKnownHostsFile /dev/null\n  StrictHostKeyChecking no\n  PasswordAuthentication no\n"
        f"  IdentityFile {sshd.client_key}\n  IdentitiesOnly yes\n  LogLevel FATAL\n"
    )
    options = SshOptions.from_ssh_config(str(config), "default")
    assert (options.port, options.host_key, options.known_hosts) == (sshd.port, "insecure", None)
    target = SshTarget.connect(options)
    target.close()
    with pytest.raises(TargetError, match=r"has no 'Host other' block.*use one of: default"):
        SshOptions.from_ssh_config(str(config), "other")
    r = run_behave(
        "features/01-base-lab.feature", "-D", "target=ssh", "-D", f"ssh_config={config}", "-D", "host=default"
    )
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-1000:]


def test_doctor_over_ssh(sshd: TestSshd) -> None:
    import sys

    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "nslab.cli",
            "doctor",
            "--target",
            "ssh",
            "--host",
            "127.0.0.1",
            "--port",
            str(sshd.port),
            "--key",
            str(sshd.client_key),
            "--known-hosts",
            str(sshd.known_hosts()),
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert r.returncode == 0, r.stdout + r.stderr
    assert "kernel bridge netfilter" in r.stdout and "0 to fix" in r.stdout


def test_sshd_killed_mid_scenario_fails_cleanly_and_the_next_run_is_clean(tmp_path: Path) -> None:
    before = host_snapshot()
    directory = tmp_path / "sshd"
    server = TestSshd.start(directory, users=["root"])
    try:
        import sys

        run = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "behave",
                "-f",
                "plain",
                *server.userdata(),
                "-D",
                f"reports={tmp_path}",
                str(HERE_FEATURES / "long-running.feature"),
            ],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        deadline = time.monotonic() + 60
        world_pids: list[int] = []
        while time.monotonic() < deadline and not world_pids:
            world_pids = [p for p in server.session_pids() if comm(p) in ("dnsmasq", "sleep")]
            time.sleep(0.05)
        assert world_pids, "the remote scenario never got going"
        server.kill_all()
        out, _ = run.communicate(timeout=60)
        assert run.returncode != 0
        assert "lost the ssh connection" in out
        assert not wait_gone(world_pids), "remote world processes survived"
    finally:
        server.stop()
    assert host_snapshot() == before
    with TestSshd.start(tmp_path / "sshd2", users=["root"]) as again:
        r = run_behave("features/01-base-lab.feature", *again.userdata(), "-D", f"reports={tmp_path}")
        assert r.returncode == 0, r.stdout[-2000:]


def test_explore_over_ssh(sshd: TestSshd) -> None:
    """nslab explore on the ssh target: the same flows and verdicts as on the local one."""
    import json
    import sys

    explore = [sys.executable, "-m", "nslab.cli", "explore", "--lab", "labs/dmz.toml", "--format", "json"]
    remote = subprocess.run(
        [*explore, *sshd.userdata()],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert remote.returncode == 0, remote.stderr[-2000:]
    assert "building lab 'dmz' in a world on ssh" in remote.stderr
    local = subprocess.run(explore, capture_output=True, text=True, timeout=300)
    assert local.returncode == 0, local.stderr[-2000:]

    def outcomes(text: str) -> dict[tuple[str, ...], str]:
        rows = json.loads(text)
        return {(r["from"], r["to"], r["to_address"], r["service"], r["family"]): r["outcome"] for r in rows}

    assert outcomes(remote.stdout) == outcomes(local.stdout)
    assert len(outcomes(remote.stdout)) == 204 + 1  # every flow, and the internet's unroutable ones in one


def test_the_upload_holds_every_part_of_the_programs_run_on_the_target(tmp_path: Path) -> None:
    """netprobe.py imports its parts from beside it (run with -I, its own directory is off
    sys.path): the files an ssh target gets, alone in a folder, start it; a part left out
    of the upload is an ImportError on the target, not here."""
    import json
    import sys

    from nslab.machine.targets.bundle import bundle

    _, files = bundle()
    for name, data in files.items():
        if "/" not in name:  # the programs; provision/ is not theirs
            (tmp_path / name).write_bytes(data)
    assert {"agent.py", "netprobe.py"} <= {p.name for p in tmp_path.iterdir()}
    python = "/usr/bin/python3" if Path("/usr/bin/python3").is_file() else sys.executable
    r = subprocess.run(
        [python, "-I", "-S", str(tmp_path / "netprobe.py")],
        stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=30, cwd="/",
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout.splitlines()[0])["ready"] is True
