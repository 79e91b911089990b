"""Real ``flask`` processes forked from a Python that has already imported Flask, SQLAlchemy,
Alembic, the database drivers and flask_safemigrate.

A fresh ``flask`` process spends about a second of CPU on those imports before it reads its
first migration (1.1 of the 1.6 CPU seconds a migrator of the reliability suite takes, measured
on the 2-core CI machine), and the reliability suite starts hundreds: a killed run and its
resume for each of 25 kills per database, sixteen migrators at once. Forking skips the imports
and nothing else. Each command is still a process of its own, with its own pid, environment,
working directory, descriptors 0-2 (``/dev/null`` and two files), database connections and
children (``pg_dump``); a test can SIGKILL it at any moment, and reads its exit status as from
``subprocess.Popen`` (:class:`Forked`). What runs in the child is what the ``flask`` script
runs: ``flask.cli.main()`` with ``sys.argv`` set, ``SystemExit`` turned into the exit status,
an escaping exception printed as Python prints it (exit 1), ``atexit`` handlers at the end.

Differences from a fresh interpreter, none of which the tests depend on: the preloaded modules
are not imported again (their import-time state is what a fresh import gives; none reads the
environment then), and settings read only at interpreter start-up are not re-read, except
``PYTHONUNBUFFERED`` (honoured for descriptors 1 and 2) and ``PYTHONPATH`` (put on
``sys.path``). Text output is UTF-8. SIGINT is Python's own handler, as for a command typed at a
terminal, even when the suite itself runs with SIGINT ignored (as a background job).

The server (``python -m tests.support.fork_server``) is started once per pytest process, on
first use, and ended when that process exits (:func:`fork_server`); it forks, and reaps its
children through pidfds. Commands and answers are JSON lines on its stdin and stdout.
"""

from __future__ import annotations

import atexit
import importlib
import io
import json
import os
import select
import signal
import subprocess
import sys
import time
import traceback
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from tests.support.apps import REPO_ROOT

#: What the ``flask db ...`` commands of the tests import: the libraries before doing anything,
#: then what a command imports on its way (the backup, the guards of the scripts, lint's
#: command, ``logging.config`` of ``env.py``), the reliability suite's apps and the test
#: helpers they import (``tests.support.databases`` imports pytest: about 0.2 s of CPU that
#: every forked migrator spent again before its first revision).
PRELOAD: tuple[str, ...] = (
    "flask.cli",
    "flask_sqlalchemy",
    "flask_migrate",
    "flask_migrate.cli",
    "alembic.command",
    "alembic.autogenerate",
    "alembic.runtime.migration",
    "sqlalchemy.dialects.postgresql",
    "sqlalchemy.dialects.mysql",
    "sqlalchemy.dialects.sqlite",
    "psycopg",
    "pymysql",
    "flask_safemigrate",
    "flask_safemigrate.cli",
    "flask_safemigrate.backup",
    "flask_safemigrate.guards",
    "flask_safemigrate.lint.command",
    "flask_sqlalchemy.cli",
    "logging.config",
    "sqlite3",
    "tests.support.databases",
    "tests.reliability.app",
    "tests.reliability.bad_inputs",
)

# --------------------------------------------------------------------------- the test's side


class Forked:
    """A command running in a forked process: the part of ``subprocess.Popen`` the tests use."""

    def __init__(
        self, server: ForkServer, pid: int, args: list[str], outputs: tuple[Path, Path]
    ) -> None:
        self.server = server
        self.pid = pid
        self.args = args
        self.outputs = outputs
        self.returncode: int | None = None

    def communicate(self, timeout: float | None = None) -> tuple[str, str]:
        """Wait for the end; what it wrote on descriptors 1 and 2."""
        self.wait(timeout)
        stdout, stderr = self.outputs
        return _text(stdout), _text(stderr)

    def poll(self) -> int | None:
        """The exit status once the process has ended (``-N``: killed by signal N), else None."""
        if self.returncode is None:
            self.returncode = self.server.status(self.pid, timeout=0)
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        """Wait for the end; ``subprocess.TimeoutExpired`` after ``timeout`` seconds."""
        if self.returncode is None:
            self.returncode = self.server.status(self.pid, timeout=timeout)
        if self.returncode is None:
            raise subprocess.TimeoutExpired(self.args, timeout or 0)
        return self.returncode

    def send_signal(self, signal_number: int) -> None:
        if self.poll() is None:
            os.kill(self.pid, signal_number)

    def kill(self) -> None:
        self.send_signal(9)


class ForkServer:
    """The client of one fork server: :meth:`spawn` starts a command, :meth:`status` says
    whether it ended."""

    def __init__(self, preload: Sequence[str] = PRELOAD) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tests.support.fork_server", *preload],
            cwd=REPO_ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
        )
        assert self.process.stdin is not None and self.process.stdout is not None
        self.commands = self.process.stdin
        self.answers = self.process.stdout.fileno()
        self.pending = b""
        self.started: list[int] = []
        self.exited: dict[int, int] = {}
        #: CPU seconds of the children that ended (with theirs): what the suite spends in them.
        self.children_cpu = 0.0

    def spawn(
        self,
        argv: Sequence[str],
        *,
        env: Mapping[str, str],
        cwd: Path,
        stdout: Path,
        stderr: Path,
        timeout: float = 120,
    ) -> Forked:
        """Fork a process that runs ``argv`` (``flask ...``) with exactly ``env``."""
        for path in (stdout, stderr):  # there when this returns, as with Popen's files
            path.write_bytes(b"")
        command = {
            "argv": list(argv),
            "env": dict(env),
            "cwd": str(cwd),
            "stdout": str(stdout),
            "stderr": str(stderr),
        }
        self.commands.write(json.dumps(command).encode() + b"\n")
        self.commands.flush()
        deadline = time.monotonic() + timeout
        while not self.started:
            if not self._read(deadline - time.monotonic()):
                raise RuntimeError(f"the fork server did not start {argv} within {timeout} s")
        return Forked(self, self.started.pop(0), list(argv), (stdout, stderr))

    def status(self, pid: int, timeout: float | None) -> int | None:
        """``pid``'s exit status, waiting up to ``timeout`` seconds (None: for ever)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while pid not in self.exited:
            left = None if deadline is None else max(0.0, deadline - time.monotonic())
            if not self._read(left) and deadline is not None and time.monotonic() >= deadline:
                return None
        return self.exited[pid]

    def _read(self, timeout: float | None) -> bool:
        """Take in the answers that arrive within ``timeout``; False when none did."""
        ready, _, _ = select.select([self.answers], [], [], timeout)
        if not ready:
            return False
        chunk = os.read(self.answers, 65536)
        if not chunk:
            raise RuntimeError(f"the fork server ended (exit {self.process.wait()})")
        self.pending += chunk
        *lines, self.pending = self.pending.split(b"\n")
        for line in lines:
            answer = json.loads(line)
            if "started" in answer:
                self.started.append(answer["started"])
            else:
                self.exited[answer["exited"]] = answer["code"]
                self.children_cpu += answer["cpu"]
        return True

    def close(self) -> None:
        """End the server: commands still running are killed (as by the end of pytest)."""
        if self.process.poll() is None:
            self.commands.close()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self.process.stdout is not None:
            self.process.stdout.close()


def _text(path: Path) -> str:
    return path.read_text(encoding="utf-8", errors="replace")


def start(
    argv: Sequence[str], *, env: Mapping[str, str], cwd: Path, outputs: Path, name: str
) -> Forked:
    """``subprocess.Popen(argv, env=env, cwd=cwd)`` forked, its output in ``outputs/name.*``."""
    outputs.mkdir(parents=True, exist_ok=True)
    return fork_server().spawn(
        argv, env=env, cwd=cwd, stdout=outputs / f"{name}.out", stderr=outputs / f"{name}.err"
    )


def run(
    argv: Sequence[str],
    *,
    env: Mapping[str, str],
    cwd: Path,
    outputs: Path,
    name: str,
    timeout: float = 300,
) -> subprocess.CompletedProcess[str]:
    """``subprocess.run(argv, capture_output=True, text=True, timeout=timeout)``, forked (see
    :func:`start`): past ``timeout`` the process is killed and ``TimeoutExpired`` raised."""
    process = start(argv, env=env, cwd=cwd, outputs=outputs, name=name)
    try:
        stdout, stderr = process.communicate(timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
        raise
    return subprocess.CompletedProcess(list(argv), process.wait(), stdout, stderr)


_SERVER: list[ForkServer] = []


def fork_server() -> ForkServer:
    """This pytest process's fork server, started on first use and ended at exit."""
    if not _SERVER or _SERVER[0].process.poll() is not None:
        _SERVER[:] = [ForkServer()]
        atexit.register(_SERVER[0].close)
    return _SERVER[0]


# --------------------------------------------------------------------------- the server's side


def _exit_status(status: int) -> int:
    """``waitpid``'s status as ``Popen.returncode`` gives it."""
    return os.waitstatus_to_exitcode(status)


def _exit_code(code: object) -> int:
    """What the interpreter exits with for ``SystemExit(code)``."""
    if code is None:
        return 0
    if isinstance(code, int):
        return code
    print(code, file=sys.stderr)
    return 1


def _stream(fd: int, *, unbuffered: bool, errors: str, line_buffering: bool) -> io.TextIOWrapper:
    raw = io.FileIO(fd, "w", closefd=False)
    binary: Any = raw if unbuffered else io.BufferedWriter(raw)
    return io.TextIOWrapper(
        binary,
        encoding="utf-8",
        errors=errors,
        line_buffering=line_buffering,
        write_through=unbuffered,
    )


def _child(command: Mapping[str, Any], base_path: list[str]) -> int:
    """In the forked process: become ``flask ARGV`` and run it; returns the exit status."""
    env: dict[str, str] = command["env"]
    null = os.open(os.devnull, os.O_RDONLY)
    out = os.open(command["stdout"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    err = os.open(command["stderr"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    for source, target in ((null, 0), (out, 1), (err, 2)):
        os.dup2(source, target)
    os.closerange(3, os.sysconf("SC_OPEN_MAX"))  # the server's pipes and pidfds, these three
    os.chdir(command["cwd"])
    os.environ.clear()
    os.environ.update(env)
    unbuffered = bool(env.get("PYTHONUNBUFFERED"))
    sys.stdin = io.TextIOWrapper(io.FileIO(0, "r", closefd=False))
    sys.stdout = _stream(1, unbuffered=unbuffered, errors="strict", line_buffering=False)
    sys.stderr = _stream(2, unbuffered=unbuffered, errors="backslashreplace", line_buffering=True)
    # Ctrl-C as at a terminal. A suite started as a background job (bash's ``&`` without job
    # control sets SIGINT and SIGQUIT to ignored, and an ignored signal stays ignored across
    # exec and fork) would otherwise give every command an ignored SIGINT, and the tests that
    # send one would see the run finish instead of stop.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    argv: list[str] = command["argv"]
    sys.argv = list(argv)
    # A script's ``__main__`` has no package (click names the program after ``-m``'s if set).
    main_module = sys.modules["__main__"]
    main_module.__spec__ = None
    main_module.__package__ = None
    extra = [entry for entry in env.get("PYTHONPATH", "").split(os.pathsep) if entry]
    sys.path[:] = [str(Path(argv[0]).parent), *extra, *base_path]
    from flask.cli import main

    try:
        main()
        code = 0
    except SystemExit as stop:
        code = _exit_code(stop.code)
    except BaseException:
        traceback.print_exc()
        code = 1
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        stream.flush()
    return code


def _fork(command: Mapping[str, Any], base_path: list[str]) -> int:
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            code = _child(command, base_path)
        finally:
            os._exit(code)
    return pid


def _answer(fd: int, message: Mapping[str, float]) -> None:
    os.write(fd, json.dumps(message).encode() + b"\n")


def serve(commands: int, answers: int, preload: Sequence[str]) -> None:
    """Fork a child for each command line read from ``commands``; answer ``{"started": pid}``
    at once and ``{"exited": pid, "code": N, "cpu": seconds}`` when it ends. At end of input,
    the children still running are killed."""
    for name in preload:
        importlib.import_module(name)
    base_path = sys.path[1:]  # without this module's own directory (the child gets flask's)
    children: dict[int, int] = {}  # pidfd -> pid
    pending = b""
    while True:
        ready, _, _ = select.select([commands, *children], [], [])
        for fd in ready:
            if fd != commands:
                pid = children.pop(fd)
                os.close(fd)
                _, status, usage = os.wait4(pid, 0)
                cpu = usage.ru_utime + usage.ru_stime
                _answer(answers, {"exited": pid, "code": _exit_status(status), "cpu": cpu})
                continue
            chunk = os.read(commands, 65536)
            if not chunk:
                for pidfd, pid in children.items():
                    os.kill(pid, 9)
                    os.waitpid(pid, 0)
                    os.close(pidfd)
                return
            pending += chunk
            *lines, pending = pending.split(b"\n")
            for line in lines:
                pid = _fork(json.loads(line), base_path)
                children[os.pidfd_open(pid)] = pid
                _answer(answers, {"started": pid})


def main() -> None:
    """Keep the protocol off descriptors 0 and 1, which the children take over."""
    commands, answers = os.dup(0), os.dup(1)
    null = os.open(os.devnull, os.O_RDWR)
    os.dup2(null, 0)
    os.dup2(null, 1)
    os.close(null)
    serve(commands, answers, sys.argv[1:])


if __name__ == "__main__":
    main()
