"""The fork server's process: ``python -m flask_safemigrate.forking.server [OPTIONS] [MODULE...]``.

It imports the libraries once (:data:`PRELOAD`, those of :data:`OPTIONAL` installed, and
the ``MODULE`` names given), answers ``{"ready": pid}``, then forks a child for each command
line it reads. The child becomes what ``python -m flask ...`` (or a ``flask`` script) would be
in a fresh interpreter started with the command's environment and working directory, and runs
it (:func:`become`); the server reaps each child through a pidfd and answers its exit status.

The server holds no database connection and no thread (it refuses to serve if an import
started one: a fork copies only the forking thread, and a lock another thread held would stay
locked in every child). It is not the place for the user's app module either: importing an
app may connect or start threads, so each child imports it, as ``flask --app`` does.

Protocol, JSON lines on descriptors 0 (commands) and 1 (answers), both moved off 0 and 1 at
start, which the children take over:

- command ``{"argv": [...], "env": {...}, "cwd": "...", "stdout": PATH, "stderr": PATH,
  "new_session": bool}``;
- answers ``{"ready": pid}`` once, ``{"started": pid}`` per command, and
  ``{"exited": pid, "code": N, "cpu": seconds}`` when a child ends (``code`` as
  ``subprocess`` gives it: ``-N`` for killed by signal N).

At end of input (the client closed it, or ended, even by SIGKILL) the server exits: the
children still running go on as orphans, as ``subprocess`` children of a killed parent do, or
with ``--kill-on-close`` are killed first (the test suite's choice).
"""

from __future__ import annotations

import argparse
import atexit
import importlib
import importlib.util
import io
import json
import os
import random
import select
import signal
import sys
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

__all__ = ["OPTIONAL", "PRELOAD", "main"]

#: What a ``flask db safe-upgrade`` (or ``verify``) imports: the libraries, then what the
#: command imports on its way (the extension, the upgrade pipeline, the backup, the guards the
#: scripts call, lint, ``logging.config`` of ``env.py``). About 1.1 of the 1.6 CPU seconds of
#: a fresh ``flask`` process, measured on the 2-core CI machine; ``python -X importtime`` on
#: a fleet target's command shows what is left (the app, and a few small modules).
PRELOAD: tuple[str, ...] = (
    "flask.cli",
    "flask_sqlalchemy",
    "flask_sqlalchemy.cli",
    "flask_migrate",
    "flask_migrate.cli",
    "alembic.command",
    "alembic.autogenerate",
    "alembic.runtime.migration",
    "sqlalchemy.dialects.postgresql",
    "sqlalchemy.dialects.mysql",
    "sqlalchemy.dialects.sqlite",
    "logging.config",
    "flask_safemigrate",
    "flask_safemigrate.extension",
    "flask_safemigrate.cli",
    "flask_safemigrate.cli_fleet",
    "flask_safemigrate.cli_upgrade",
    "flask_safemigrate.cli_interrupt",
    "flask_safemigrate.upgrade",
    "flask_safemigrate.verify",
    "flask_safemigrate.telemetry",
    "flask_safemigrate.render.progress",
    "flask_safemigrate.backup",
    "flask_safemigrate.guards",
    "flask_safemigrate.lint.command",
)

#: Imported when installed: the database drivers, and what some apps and commands import
#: (``python-dotenv`` for ``flask``'s ``.env``, OpenTelemetry for the ``otel`` extra). One
#: that is missing, or fails with an ``ImportError`` (psycopg without libpq), is left for the
#: child, which fails the same way if it needs it.
OPTIONAL: tuple[str, ...] = (
    "psycopg",
    "psycopg2",
    "pymysql",
    "MySQLdb",
    "sqlite3",
    "dotenv",
    "inflection",
    "opentelemetry.trace",
    "opentelemetry.metrics",
    "flask_safemigrate.telemetry.spans",
)


#: What decides whether the interpreter changes its environment at start-up.
_LOCALE = ("LC_ALL", "LC_CTYPE", "LANG", "PYTHONCOERCECLOCALE", "PYTHONUTF8")


def _python_path(environ: Mapping[str, str], cwd: str) -> list[str]:
    """``PYTHONPATH``'s entries as Python puts them on ``sys.path`` (absolute; empty = cwd)."""
    raw = environ.get("PYTHONPATH", "")
    return (
        [str(Path(cwd, entry)) if entry else cwd for entry in raw.split(os.pathsep)] if raw else []
    )


class _Start:
    """What the server's interpreter was at start-up, before any import: what a fresh
    interpreter started the same way would be, and each child is made again."""

    def __init__(self) -> None:
        cwd = str(Path.cwd())
        own = set(_python_path(os.environ, cwd))
        rest = sys.path[0 if sys.flags.safe_path else 1 :]
        while rest and rest[0] in own:  # PYTHONPATH's entries come first; the child's replace them
            rest = rest[1:]
        #: ``sys.path`` without ``-m``'s directory and ``PYTHONPATH``: the interpreter's own.
        self.base_path = rest
        self.streams = {
            name: (stream.encoding, stream.errors or "strict")
            for name, stream in (("stdout", sys.stdout), ("stderr", sys.stderr))
        }
        # What the interpreter added to the environment it was started with (``LC_CTYPE``
        # when it coerced a C locale to UTF-8, PEP 538): /proc keeps the environment as
        # exec'd. A child whose locale variables are the same gets the same.
        initial = dict(
            item.split(b"=", 1)
            for item in Path("/proc/self/environ").read_bytes().split(b"\0")
            if b"=" in item
        )
        given = {os.fsdecode(k): os.fsdecode(v) for k, v in initial.items()}
        self.locale = {name: given.get(name) for name in _LOCALE}
        self.added = {k: v for k, v in os.environ.items() if k not in given}
        self.handlers = {
            signum: signal.getsignal(signum)
            for signum in signal.valid_signals()
            if signum not in (signal.SIGKILL, signal.SIGSTOP)
        }


def _stream(
    fd: int, encoding: str, errors: str, *, unbuffered: bool, line: bool
) -> io.TextIOWrapper:
    raw = io.FileIO(fd, "w", closefd=False)
    binary: Any = raw if unbuffered else io.BufferedWriter(raw)
    return io.TextIOWrapper(
        binary, encoding=encoding, errors=errors, line_buffering=line, write_through=unbuffered
    )


def _exit_code(code: object) -> int:
    """What the interpreter exits with for ``SystemExit(code)``."""
    if code is None:
        return 0
    if isinstance(code, int):
        return code
    sys.stderr.write(f"{code}\n")
    return 1


def _descriptors(command: Mapping[str, Any]) -> None:
    """0 from /dev/null, 1 and 2 to the command's files; the server's own descriptors
    (the protocol's pipes, the pidfds of the other children) closed."""
    null = os.open(os.devnull, os.O_RDONLY)
    out = os.open(command["stdout"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    err = os.open(command["stderr"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    for source, target in ((null, 0), (out, 1), (err, 2)):
        os.dup2(source, target)
    os.closerange(3, os.sysconf("SC_OPEN_MAX"))


def become(command: Mapping[str, Any], start: _Start, *, python_sigint: bool) -> int:
    """In the forked child: become ``argv`` as started fresh, run it; the exit status.

    ``argv`` is ``[python, "-m", MODULE, ARGS...]`` (run as ``-m`` runs it) or
    ``[SCRIPT, ARGS...]`` (a console script such as ``flask``, run as a script)."""
    for signum, handler in start.handlers.items():  # as the server's interpreter started
        if handler is not None and signal.getsignal(signum) != handler:
            signal.signal(signum, handler)
    if python_sigint:
        # Ctrl-C as at a terminal even when the suite runs as a background job (bash's ``&``
        # without job control starts it with SIGINT ignored, which stays ignored in children).
        signal.signal(signal.SIGINT, signal.default_int_handler)
    if command.get("new_session"):
        os.setsid()
    _descriptors(command)
    cwd: str = command["cwd"]
    env: dict[str, str] = command["env"]
    os.chdir(cwd)
    os.environ.clear()
    os.environ.update(env)
    if all(env.get(name) == value for name, value in start.locale.items()):
        for name, value in start.added.items():
            os.environ.setdefault(name, value)
    random.seed()  # os.fork reseeds random too; a child must never share the server's sequence
    unbuffered = bool(env.get("PYTHONUNBUFFERED"))
    sys.stdin = io.TextIOWrapper(io.FileIO(0, "r", closefd=False))
    sys.stdout = _stream(1, *start.streams["stdout"], unbuffered=unbuffered, line=False)
    sys.stderr = _stream(2, *start.streams["stderr"], unbuffered=unbuffered, line=True)
    sys.__stdin__, sys.__stdout__, sys.__stderr__ = sys.stdin, sys.stdout, sys.stderr  # type: ignore[misc]
    argv: list[str] = command["argv"]
    module = argv[2] if len(argv) > 2 and argv[1] == "-m" else None
    first = cwd if module else str(Path(argv[0]).resolve().parent)
    entries = [] if sys.flags.safe_path else [first]
    entries += _python_path(env, cwd) + start.base_path
    sys.path[:] = list(dict.fromkeys(entries))
    importlib.invalidate_caches()  # files written since the server started (the app) are seen
    import runpy

    try:
        if module:
            sys.argv = [module, *argv[3:]]  # runpy puts the module's file first, as -m does
            runpy.run_module(module, run_name="__main__", alter_sys=True)
        else:
            sys.argv = list(argv)
            runpy.run_path(argv[0], run_name="__main__")
        code = 0
    except SystemExit as stop:
        code = _exit_code(stop.code)
    except KeyboardInterrupt:
        sys.excepthook(*sys.exc_info())
        code = -signal.SIGINT  # the interpreter ends by SIGINT, as a fresh one does
    except BaseException:
        sys.excepthook(*sys.exc_info())
        code = 1
    # Interpreter shutdown: wait for the non-daemon threads, run atexit, flush.
    getattr(threading, "_shutdown", lambda: None)()
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except OSError:
            code = code or 120
    return code


def _fork(command: Mapping[str, Any], start: _Start, python_sigint: bool) -> int:
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            code = become(command, start, python_sigint=python_sigint)
        finally:
            if code < 0:
                signal.signal(-code, signal.SIG_DFL)
                os.kill(os.getpid(), -code)
            os._exit(code)
    return pid


def _answer(fd: int, message: Mapping[str, float]) -> None:
    os.write(fd, json.dumps(message).encode() + b"\n")


def preload(extra: Sequence[str]) -> None:
    """Import what the children need; an ``ImportError`` is tolerated for :data:`OPTIONAL`."""
    for name in OPTIONAL:
        try:
            if importlib.util.find_spec(name) is not None:
                importlib.import_module(name)
        except ImportError:
            continue
    for name in (*PRELOAD, *extra):
        importlib.import_module(name)
    if threading.active_count() != 1:
        names = ", ".join(t.name for t in threading.enumerate())
        raise RuntimeError(f"an import started a thread ({names}): forking would copy it half")


def serve(
    commands: int, answers: int, start: _Start, *, kill_on_close: bool, python_sigint: bool
) -> None:
    """Fork a child for each command line read from ``commands`` (module docstring)."""
    children: dict[int, int] = {}  # pidfd -> pid
    pending = b""
    while True:
        ready, _, _ = select.select([commands, *children], [], [])
        for fd in ready:
            if fd != commands:
                pid = children.pop(fd)
                os.close(fd)
                _, status, usage = os.wait4(pid, 0)
                code = os.waitstatus_to_exitcode(status)
                cpu = usage.ru_utime + usage.ru_stime
                _answer(answers, {"exited": pid, "code": code, "cpu": cpu})
                continue
            chunk = os.read(commands, 65536)
            if not chunk:
                for pidfd, pid in children.items():
                    if kill_on_close:
                        os.kill(pid, signal.SIGKILL)
                        os.waitpid(pid, 0)
                    os.close(pidfd)
                return
            pending += chunk
            *lines, pending = pending.split(b"\n")
            for line in lines:
                pid = _fork(json.loads(line), start, python_sigint)
                children[os.pidfd_open(pid)] = pid
                _answer(answers, {"started": pid})


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m flask_safemigrate.forking.server")
    parser.add_argument("modules", nargs="*", help="more modules to import before serving")
    parser.add_argument("--kill-on-close", action="store_true")
    parser.add_argument("--python-sigint", action="store_true")
    options = parser.parse_args()
    start = _Start()
    # The protocol off descriptors 0 and 1, which the children take over; 2 stays, so a
    # failed import is said where the client can read it.
    commands, answers = os.dup(0), os.dup(1)
    null = os.open(os.devnull, os.O_RDWR)
    os.dup2(null, 0)
    os.dup2(null, 1)
    os.close(null)
    os.close(os.pidfd_open(os.getpid()))  # pidfds (Linux 5.3) or no server: it reaps with them
    preload(options.modules)
    _answer(answers, {"ready": os.getpid()})
    serve(
        commands,
        answers,
        start,
        kill_on_close=options.kill_on_close,
        python_sigint=options.python_sigint,
    )


if __name__ == "__main__":
    main()
