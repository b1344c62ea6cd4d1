"""The zygote: mutants' behave runs forked from one pre-imported process, not a fresh
Python each (nslab mutate starts it: nslab.coverage.behave_runs).

A behave process spends most of a mutant's CPU importing: `import behave.__main__,
behave.runner, nslab.behave.steps, nslab.behave.hooks` took 0.20 s of CPU of a typical
mutant's 0.33 s on a 2-core machine, and a suite runs hundreds. The zygote (`python -m
nslab.behave.zygote`, one per Mutator) imports them once, then forks one child per run:
the child is a fresh `python -m behave` in all that a run can see (its cwd first on
sys.path, its environment, argv, stdin /dev/null, stdout and stderr on files, signal
handlers as Python starts with them) and ends by os._exit, never returning into the
zygote. The step registry holds nslab's steps once, as a fresh process does after its
first `from nslab.behave.steps import *`; behave execs the project's environment.py and
steps/*.py in each child, as before.

The protocol, one JSON object a line: a request {"id", "argv", "cwd", "env", "stdout",
"stderr"} on the zygote's stdin; replies on its stdout: {"ready"} once imported, then
{"id", "pid"} as soon as a child is forked (so a stopped run can SIGTERM it) and {"id",
"exit"} when it ends (the zygote reaps its children), or {"id", "error"}.
"""

from __future__ import annotations

import contextlib
import importlib
import io
import json
import os
import select
import signal
import sys
import threading
from typing import Any


def _reply(obj: dict[str, Any]) -> None:
    # one write: a line is never split. No reader (the Mutator died): serve on until stdin
    # closes, which ends the runs
    with contextlib.suppress(OSError):
        os.write(1, json.dumps(obj).encode() + b"\n")


def _child(request: dict[str, Any], wake: tuple[int, int]) -> None:
    """In the forked child: become `python -m behave ARGV` and end by os._exit."""
    import atexit
    import traceback

    code = 1
    try:
        atexit._clear()  # the zygote's; the run's own are run below, as a fresh process would
        signal.set_wakeup_fd(-1)
        for fd in wake:
            os.close(fd)
        for sig in (signal.SIGCHLD, signal.SIGTERM):
            signal.signal(sig, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        try:
            code = _behave(request)
        except SystemExit as exc:  # as Python exits on one: its code, or its message and 1
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
            if exc.code is not None and not isinstance(exc.code, int):
                print(exc.code, file=sys.stderr)
        threading._shutdown()  # type: ignore[attr-defined]  # as Python's exit: wait for threads
        atexit._run_exitfuncs()
    except KeyboardInterrupt:  # as Python ends on an uncaught one: its traceback, then SIGINT
        traceback.print_exc()
        _flush()
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        os.kill(os.getpid(), signal.SIGINT)
    except BaseException:
        traceback.print_exc()
    finally:
        _flush()
        os._exit(code)


def _flush() -> None:
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()


def _behave(request: dict[str, Any]) -> int:
    import behave.__main__

    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.close(null)
    for fd, path in ((1, request["stdout"]), (2, request["stderr"])):
        opened = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        os.dup2(opened, fd)
        os.close(opened)
    # fresh objects on the fds, buffered as Python buffers them when they are not a tty
    enc = sys.stdout.encoding
    for name, fd, errors in (
        ("stdin", 0, "strict"),
        ("stdout", 1, "strict"),
        ("stderr", 2, "backslashreplace"),
    ):
        raw = open(fd, "wb" if fd else "rb", closefd=False)  # noqa: SIM115
        stream = io.TextIOWrapper(raw, encoding=enc, errors=errors, line_buffering=name == "stderr")
        setattr(sys, name, stream)
        setattr(sys, f"__{name}__", stream)
    os.chdir(request["cwd"])
    os.environ.clear()
    os.environ.update(request["env"])
    sys.path[0] = request["cwd"]  # as `python -m` puts it
    sys.argv = [behave.__main__.__file__, *request["argv"]]
    sys.modules["__main__"] = behave.__main__
    return int(behave.__main__.main(list(request["argv"])) or 0)


def _serve() -> None:
    """Read requests until stdin closes; fork a child for each, report its pid and exit."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the Mutator's to handle, and the runs'
    wake = os.pipe()
    for fd in wake:
        os.set_blocking(fd, False)
    signal.set_wakeup_fd(wake[1])
    signal.signal(signal.SIGCHLD, lambda *_: None)  # wakes select through the pipe
    kids: dict[int, int] = {}  # pid -> request id
    pending = b""
    reading = True
    while reading or kids:
        ready, _, _ = select.select([0, wake[0]] if reading else [wake[0]], [], [], 1.0)
        with contextlib.suppress(BlockingIOError):
            os.read(wake[0], 4096)
        while kids:
            pid, status = os.waitpid(-1, os.WNOHANG)
            if pid == 0:
                break
            _reply({"id": kids.pop(pid), "exit": os.waitstatus_to_exitcode(status)})
        if 0 not in ready:
            continue
        data = os.read(0, 65536)
        if not data:  # the Mutator is gone: its runs' results have no reader
            reading = False
            for pid in kids:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGTERM)
            continue
        pending += data
        while b"\n" in pending:
            line, pending = pending.split(b"\n", 1)
            request = json.loads(line)
            try:
                pid = os.fork()
            except OSError as exc:
                _reply({"id": request["id"], "error": str(exc)})
                continue
            if pid == 0:
                _child(request, wake)
            kids[pid] = request["id"]
            _reply({"id": request["id"], "pid": pid})


def main() -> None:
    try:
        import behave.__main__
        import behave.configuration
        import behave.runner  # noqa: F401

        import nslab.behave.hooks
        import nslab.behave.steps

        # what the hooks import only when a run needs it (rule coverage, the page, a failed
        # scenario's bundle): a mutant's run often does, and forked, has it imported already
        for deferred in nslab.behave.hooks.DEFERRED:
            importlib.import_module(deferred)
    except Exception as exc:
        _reply({"ready": False, "why": str(exc)})
        return
    if threading.active_count() != 1:  # fork is only safe from a process with one thread
        _reply({"ready": False, "why": f"{threading.active_count()} threads after the imports"})
        return
    _reply({"ready": True})
    _serve()


if __name__ == "__main__":
    main()
