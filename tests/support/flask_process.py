"""One real ``flask`` process that runs many commands, each with its own environment and output.

A test that must see what a real process writes (file descriptors 1 and 2, logging configured
from ``alembic.ini`` onto the real stderr, child processes such as ``pg_dump`` inheriting them,
the process environment) but runs dozens of commands of one scenario pays Python's and Flask's
start-up for each through :func:`tests.support.cli.run_flask`. :class:`FlaskProcess` starts the
process once; each :meth:`FlaskProcess.run` then behaves like ``flask --app APP ARGS``:

- the environment is the process's own at start plus the command's ``env`` (nothing of the
  previous command's), and ``sys.argv`` is the command line;
- file descriptors 1 and 2 go to files of their own for the command (stdin is ``/dev/null``),
  so what any code or child process writes is captured, as from a subprocess;
- logging is put back as it was before the first command (handlers, levels, ``disabled``), so
  one command's ``fileConfig`` or ``basicConfig`` does not carry over to the next;
- the app is built afresh by ``--app`` (the factory runs for every command), and its engines
  are disposed after it (no connection outlives the command);
- an exception that escapes is printed to stderr as Python prints it, and the exit code is 1.

Run as ``python -m tests.support.flask_process`` by :class:`FlaskProcess`; commands come as one
JSON line each on a private descriptor, answers go back the same way.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import logging
import os
import select
import subprocess
import sys
import tempfile
import traceback
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import IO, Any

from tests.support.apps import REPO_ROOT

# --------------------------------------------------------------------------- the test's side


class FlaskProcess:
    """The client: ``run(args, env=...)`` returns what ``subprocess.run`` of ``flask --app APP
    ARGS`` would (the app is fixed for the process: its module is imported at start)."""

    def __init__(self, app: str, *, cwd: Path | None = None, timeout: float = 120) -> None:
        self.app = app
        self.timeout = timeout
        self.outputs = Path(tempfile.mkdtemp(prefix="safemigrate-flask-process-"))
        self.count = 0
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tests.support.flask_process", app],
            cwd=cwd or REPO_ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    def run(
        self, args: Sequence[str], *, env: Mapping[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        """``flask --app APP ARGS`` with ``env`` added to the process's environment."""
        assert self.process.stdin is not None and self.process.stdout is not None
        self.count += 1
        stdout = self.outputs / f"{self.count}.out"
        stderr = self.outputs / f"{self.count}.err"
        argv = ["flask", "--app", self.app, *args]
        command = {
            "argv": argv,
            "env": dict(env or {}),
            "stdout": str(stdout),
            "stderr": str(stderr),
        }
        self.process.stdin.write(json.dumps(command) + "\n")
        self.process.stdin.flush()
        ready, _, _ = select.select([self.process.stdout], [], [], self.timeout)
        answer = self.process.stdout.readline() if ready else ""
        if not answer:
            if ready:  # end of file: the process is gone; say what it wrote last
                self.process.wait(timeout=30)
            else:
                self.process.kill()
            died = self.process.stderr.read() if self.process.stderr else ""
            self.close()
            raise RuntimeError(
                f"the flask process gave no answer to {argv} within {self.timeout} s"
                f" (exit {self.process.poll()}); its stderr:\n{died[-4000:]}"
                f"\nthe command's stderr:\n{_tail(stderr)}"
            )
        code = json.loads(answer)["code"]
        out = stdout.read_text(encoding="utf-8", errors="replace")
        err = stderr.read_text(encoding="utf-8", errors="replace")
        return subprocess.CompletedProcess(argv, code, out, err)

    def close(self) -> None:
        """End the process (closing its input ends its loop) and remove the output files."""
        if not self.outputs.exists():
            return
        if self.process.poll() is None:
            assert self.process.stdin is not None
            self.process.stdin.close()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        for stream in (self.process.stdout, self.process.stderr):
            if stream is not None:
                stream.close()
        for path in self.outputs.iterdir():
            path.unlink()
        self.outputs.rmdir()

    def __enter__(self) -> FlaskProcess:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def _tail(path: Path) -> str:
    return path.read_text(encoding="utf-8", errors="replace")[-4000:] if path.exists() else ""


# --------------------------------------------------------------------------- the process's side


class LoggingState:
    """Every logger's handlers, level, ``disabled`` and ``propagate``, to put back later."""

    def __init__(self) -> None:
        manager = logging.Logger.manager
        self.disable = manager.disable
        self.loggers = {
            name: (list(lg.handlers), lg.level, lg.disabled, lg.propagate)
            for name, lg in [("", logging.getLogger()), *manager.loggerDict.items()]
            if isinstance(lg, logging.Logger)
        }

    def restore(self) -> None:
        logging.disable(self.disable)
        loggers = [("", logging.getLogger()), *logging.Logger.manager.loggerDict.items()]
        for name, logger in loggers:
            if not isinstance(logger, logging.Logger):
                continue
            handlers, level, disabled, propagate = self.loggers.get(
                name, ([], logging.NOTSET, False, True)
            )
            logger.handlers[:] = handlers
            logger.setLevel(level)
            logger.disabled = disabled
            logger.propagate = propagate


class PushedApps:
    """The apps whose context is pushed while a command runs (their engines are disposed after)."""

    def __init__(self) -> None:
        from flask import appcontext_pushed

        self.apps: list[Any] = []
        appcontext_pushed.connect(self.seen, weak=False)

    def seen(self, app: Any, **_: Any) -> None:
        if all(app is not known for known in self.apps):
            self.apps.append(app)

    def dispose(self) -> None:
        from tests.support.apps import dispose_app

        for app in self.apps:
            # Apps the command builds itself (verify's scratch app) carry the extension of
            # the app they copy without being registered with it: those are the command's.
            with contextlib.suppress(RuntimeError):
                dispose_app(app)
        self.apps.clear()


def _run_one(
    command: Mapping[str, Any], base_env: Mapping[str, str], logs: LoggingState, apps: PushedApps
) -> int:
    from flask.cli import cli

    os.environ.clear()
    os.environ.update(base_env)
    os.environ.update(command["env"])
    argv: list[str] = command["argv"]
    sys.argv = list(argv)
    logs.restore()
    saved = os.dup(1), os.dup(2)
    with Path(command["stdout"]).open("wb") as out, Path(command["stderr"]).open("wb") as err:
        os.dup2(out.fileno(), 1)
        os.dup2(err.fileno(), 2)
        try:
            cli.main(args=argv[1:], prog_name="flask")
            code = 0
        except SystemExit as stop:
            code = _exit_code(stop.code)
        except BaseException:
            traceback.print_exc()
            code = 1
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            apps.dispose()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            os.close(saved[0])
            os.close(saved[1])
    return code


def _exit_code(code: object) -> int:
    """What the interpreter exits with for ``SystemExit(code)``."""
    if code is None:
        return 0
    if isinstance(code, int):
        return code
    print(code, file=sys.stderr)
    return 1


def serve(commands: IO[str], answers: IO[str], app: str) -> None:
    """Run each command line of ``commands``; answer ``{"code": N}`` for each.

    The app's module is imported first, so that the logging state put back before each
    command is the one a fresh ``flask`` process has when the app is built (SQLAlchemy, for
    one, sets its logger's level when imported).
    """
    import flask.cli  # noqa: F401  (what a fresh ``flask`` process has imported, too)

    importlib.import_module(app.partition(":")[0])
    base_env = dict(os.environ)
    logs = LoggingState()
    apps = PushedApps()
    for line in commands:
        code = _run_one(json.loads(line), base_env, logs, apps)
        answers.write(json.dumps({"code": code}) + "\n")
        answers.flush()


def main() -> None:
    """Keep the protocol off descriptors 0 and 1, which belong to the commands."""
    commands = os.fdopen(os.dup(0), "r", encoding="utf-8")
    answers = os.fdopen(os.dup(1), "w", encoding="utf-8")
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.close(null)
    serve(commands, answers, sys.argv[1])


if __name__ == "__main__":
    main()
