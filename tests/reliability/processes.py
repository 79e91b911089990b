"""Real ``flask db safe-upgrade`` subprocesses: start one, watch for a moment, SIGKILL it.

Output goes to files (with ``PYTHONUNBUFFERED``) so the watcher can read progress while the
process runs, without threads and without a pipe that could fill up. The processes are forked
from a Python that has imported the libraries already (:mod:`tests.support.fork_server`): a
killed run is still a process of its own, killed with SIGKILL, but each start costs a fork, not
a second of imports. Everything a run leaves
(markers, output, instance folder, backups) lives in the test's ``tmp_path``.
"""

from __future__ import annotations

import json
import os
import signal
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.reliability.app import APP_SPEC
from tests.support.apps import REPO_ROOT
from tests.support.cli import FLASK
from tests.support.fork_server import Forked, fork_server

#: Text that must never appear in the output of a run that went well.
ERROR_TEXT = ("Traceback", "error[", "Error:", "ERROR")


@dataclass
class Workspace:
    """Where one test's runs point: its database, the shared scripts, its own folders."""

    database_url: str
    migrations: Path
    root: Path
    extra_env: dict[str, str] = field(default_factory=dict)

    @property
    def markers(self) -> Path:
        return self.root / "markers"

    @property
    def instance(self) -> Path:
        return self.root / "instance"

    @property
    def backups(self) -> Path:
        return self.root / "backups"

    def env(self, **overrides: str) -> dict[str, str]:
        """The subprocess environment: the app's ``SM_*`` variables on top of ours."""
        self.markers.mkdir(parents=True, exist_ok=True)
        python_path = os.pathsep.join(
            p for p in (str(REPO_ROOT), os.environ.get("PYTHONPATH", "")) if p
        )
        return {
            **os.environ,
            "PYTHONPATH": python_path,
            "PYTHONUNBUFFERED": "1",
            "NO_COLOR": "1",
            "SM_DATABASE_URL": self.database_url,
            "SM_MIGRATIONS": str(self.migrations),
            "SM_INSTANCE": str(self.instance),
            "SM_BACKUP_DIR": str(self.backups),
            "SM_MARKERS": str(self.markers),
            **self.extra_env,
            **overrides,
        }

    def marker(self, revision: str, point: str) -> bool:
        return (self.markers / f"{revision}.{point}").exists()

    def release(self, revision: str) -> None:
        """End the ``$SM_PAUSE`` pause at ``revision``'s ``mid`` point now."""
        (self.markers / f"{revision}.go").touch()

    def markers_seen(self) -> set[str]:
        return {p.name for p in self.markers.iterdir()} if self.markers.is_dir() else set()


def command(*args: str) -> list[str]:
    return [str(FLASK), "--app", APP_SPEC, "db", "safe-upgrade", *args]


@dataclass
class Running:
    """A started run whose stdout and stderr go to files."""

    process: Forked
    stdout: Path
    stderr: Path
    started: float

    def output(self) -> str:
        return _read(self.stdout) + _read(self.stderr)

    def progress(self) -> str:
        """What the run printed so far (JSON runs print progress on stderr)."""
        return _read(self.stderr)

    def finish(self, timeout: float = 300) -> Finished:
        code = self.process.wait(timeout=timeout)
        return Finished(
            code, _read(self.stdout), _read(self.stderr), time.monotonic() - self.started
        )


@dataclass
class Finished:
    code: int
    stdout: str
    stderr: str
    seconds: float

    def json(self) -> dict[str, Any]:
        try:
            data = json.loads(self.stdout)
        except ValueError:
            pytest.fail(f"not one JSON object on stdout (exit {self.code}):\n{self}", pytrace=False)
        assert isinstance(data, dict)
        return data

    def __str__(self) -> str:
        return f"exit {self.code}\n--- stdout\n{self.stdout}\n--- stderr\n{self.stderr}"


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        return ""


def start(work: Workspace, *args: str, name: str, env: Mapping[str, str] | None = None) -> Running:
    """Start ``flask db safe-upgrade ARGS`` in the background."""
    out_dir = work.root / "runs"
    out_dir.mkdir(parents=True, exist_ok=True)
    stdout, stderr = out_dir / f"{name}.out", out_dir / f"{name}.err"
    process = fork_server().spawn(
        command(*args),
        env=dict(env) if env is not None else work.env(),
        cwd=REPO_ROOT,
        stdout=stdout,
        stderr=stderr,
    )
    return Running(process, stdout, stderr, time.monotonic())


def run(work: Workspace, *args: str, name: str, env: Mapping[str, str] | None = None) -> Finished:
    """Run ``flask db safe-upgrade ARGS`` to its end."""
    return start(work, *args, name=name, env=env).finish()


def children_of(pid: int) -> list[int]:
    """Direct children of ``pid`` (a dump tool the run started), from ``/proc``."""
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            found += [int(p) for p in (task / "children").read_text().split()]
        except (OSError, ValueError):
            continue
    return found


def _alive(pid: int) -> bool:
    try:
        status = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return status.rsplit(")", 1)[-1].split()[0] != "Z"


def kill_when(
    running: Running,
    moment: Callable[[], bool],
    *,
    timeout: float = 120,
    after: float = 0.0,
    poll: float = 0.002,
) -> list[int]:
    """SIGKILL the run once ``moment()`` is true (plus ``after`` seconds); returns orphans.

    Fails the test when the run ends on its own first: the moment was never reached, so the
    scenario did not test what it claims. The run's own children (``pg_dump``) are not
    killed, as with a real crash of one process; they are returned so the caller can wait
    for them to finish on their own.
    """
    deadline = time.monotonic() + timeout
    process = running.process
    while not moment():
        if process.poll() is not None:
            pytest.fail(
                "the run ended before the kill moment:\n" + str(running.finish()), pytrace=False
            )
        if time.monotonic() > deadline:
            process.kill()
            pytest.fail(f"the kill moment did not come within {timeout:g}s", pytrace=False)
        time.sleep(poll)
    if after:
        time.sleep(after)
    orphans = children_of(process.pid)
    os.kill(process.pid, signal.SIGKILL)
    process.wait(timeout=30)
    assert process.returncode == -signal.SIGKILL, (
        f"the run ended on its own (exit {process.returncode}) before SIGKILL\n{running.output()}"
    )
    return orphans


def wait_for_orphans(pids: list[int], timeout: float = 60) -> None:
    """Let the children of a killed run finish (a dump tool runs to its end on its own).

    Past ``timeout`` they are killed: they were started, indirectly, by this test.
    """
    deadline = time.monotonic() + timeout
    for pid in pids:
        while _alive(pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        if _alive(pid):
            os.kill(pid, signal.SIGKILL)
