"""Real ``flask`` processes forked from a Python that has already imported Flask, SQLAlchemy,
Alembic, the database drivers, flask_safemigrate and the test helpers the commands import.

A fresh ``flask`` process spends about a second of CPU on those imports before it reads its
first migration (1.1 of the 1.6 CPU seconds a migrator of the reliability suite takes, measured
on the 2-core CI machine), and the reliability suite starts hundreds: a killed run and its
resume for each of 25 kills per database, sixteen migrators at once. Forking skips the imports
and nothing else. Each command is still a process of its own, with its own pid, environment,
working directory, descriptors 0-2 (``/dev/null`` and two files), database connections and
children (``pg_dump``); a test can SIGKILL it at any moment, and reads its exit status as from
``subprocess.Popen`` (:class:`Forked`). What runs in the child is what the ``flask`` script
runs, as a fresh interpreter runs it.

The server is the product's (:mod:`flask_safemigrate.forking`, which the fleet forks its
targets from; its docstrings say how a forked process differs from a fresh one), with
:data:`PRELOAD` imported besides its own list and two choices of the suite: SIGINT is Python's
own handler, as for a command typed at a terminal, even when the suite itself runs with SIGINT
ignored (as a background job); and the commands still running when the server ends are killed.
It is started once per pytest process, on first use, and ended when that process exits
(:func:`fork_server`).
"""

from __future__ import annotations

import atexit
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path

from flask_safemigrate.forking.client import Forked, ForkServer
from tests.support.apps import REPO_ROOT

__all__ = ["PRELOAD", "ForkServer", "Forked", "fork_server", "run", "start"]

#: What the tests' commands import besides what the product's server imports: the reliability
#: suite's apps and the test helpers they import (``tests.support.databases`` imports pytest:
#: about 0.2 s of CPU that every forked migrator spent again before its first revision).
PRELOAD: tuple[str, ...] = (
    "tests.support.databases",
    "tests.reliability.app",
    "tests.reliability.bad_inputs",
)


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
        _SERVER[:] = [
            ForkServer(cwd=REPO_ROOT, modules=PRELOAD, kill_on_close=True, python_sigint=True)
        ]
        atexit.register(_SERVER[0].close)
    return _SERVER[0]
