"""``flask db safe-upgrade --fleet``: every target through the normal safe-upgrade, in stages.

**Why a child process per target.** Alembic's ``op`` and ``context`` are module-global
proxies, so two migrations in one interpreter (threads) would share them; forking a process
that holds open database connections (``multiprocessing``'s default on Linux) shares their
sockets. So each target runs as its own ``python -m flask --app <the same app> db
safe-upgrade --format json --fleet-target KEY`` process: the app is built as for any command,
the child pins the target's engine and schema (:mod:`.pinning`) and runs the whole pipeline
(pre-flight, lock, backup, per-revision ledger, verification) unchanged. The parent only
starts children, reads each one's JSON report and exit code, and records them; it holds no
migration state, so a child that crashes (killed, out of memory, a segfault in a driver) is
one ``crashed`` target with its stderr's last line, never a broken fleet. No threads: the
parent polls its children. A child's output goes to files in a temporary directory of the
run, never a pipe that a chatty child could fill.

**Forked, not started fresh.** About 1.1 of the 1.6 CPU seconds of such a process were its
imports (Flask, SQLAlchemy, Alembic, the drivers, flask_safemigrate), the same in every
target. So the parent starts one fork server per run (:mod:`flask_safemigrate.forking`): a
fresh interpreter, started with the children's environment and working directory, that
imports the libraries (never the app: importing it may connect) and holds no connection and
no thread. Each target's process is forked from it and becomes that ``python -m flask ...``
command: the same argv, environment, working directory, output files, ``/dev/null`` input, a
session of its own, and an exit status read as from ``subprocess``, so the stages, the
signals, the crash detection and the reports are the same either way. Where the server cannot
start (not Linux, an import failing in it) or ``SAFEMIGRATE_FLEET_FORK`` is false, each target
is a fresh ``subprocess`` as before. The server ends with the run, or when the parent dies (its
input ends); targets still running then go on, as orphaned ``subprocess`` children would.

**Stages.** The canary stage runs the first ``--canary`` pending targets one at a time and
stops the fleet at the first failure: the rest are recorded ``skipped``, nothing applied to
them. The parallel stage runs the rest ``--parallel`` at a time; ``--on-error stop`` starts
no new target after a failure (running ones finish), ``continue`` isolates it.

**Connection budget.** One target's run is counted as :data:`CONNECTIONS_PER_TARGET`
connections: the connections it may hold at once are the migration's, the lock session, the
lock guard's keepalive and a pre-flight or verify reader (sampling ``pg_stat_activity`` every
10 ms during a schema target's run saw at most 2 open at once, so 4 is an upper bound).
With any server target, ``--parallel`` is capped at
``SAFEMIGRATE_FLEET_CONNECTIONS // CONNECTIONS_PER_TARGET`` (at least 1), so a fleet on one
PostgreSQL server does not exhaust ``max_connections``; SQLite-only fleets are not capped.

**Resume.** Before starting, the parent reads each target's version table: targets already
at the goal are ``current`` and not started. A fleet run killed mid-way is resumed by
running it again; a target it left half-done is protected by its own lock and ledger.
"""

from __future__ import annotations

import collections
import contextlib
import datetime as dt
import json
import os
import signal
import subprocess
import tempfile
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol

import sqlalchemy as sa
from flask import Flask

from flask_safemigrate import database, project
from flask_safemigrate.errors import ConfigError, ExitCode
from flask_safemigrate.fleet import held_signals, table
from flask_safemigrate.fleet.events import (
    FleetPlanned,
    FleetProgress,
    TargetFinished,
    TargetResult,
    TargetStarted,
)
from flask_safemigrate.fleet.sharding import Shard
from flask_safemigrate.fleet.targets import FleetTarget, load
from flask_safemigrate.forking.client import ForkServer, ForkServerError
from flask_safemigrate.report import Report, Result

__all__ = ["CONNECTIONS_PER_TARGET", "FleetOptions", "run_fleet"]

CONNECTIONS_PER_TARGET = 4
#: A non-retryable failure wins over a retryable one (3 and 5 are retried by a pod
#: failure policy; retrying would not fix a target that failed with 4, 2 or 1).
_PRIORITY = (ExitCode.MIGRATION_FAILED, ExitCode.USAGE, ExitCode.CHECKS_FAILED)


@dataclass(frozen=True)
class FleetOptions:
    """What ``--fleet`` was asked, and how to start one target's run.

    ``launcher`` gives the command that reaches the app's ``flask db`` group
    (``python -m flask --app APP db``; asked once the targets are known, so a bad
    ``SAFEMIGRATE_TARGETS`` is reported first), ``child_args`` the safe-upgrade options every
    target's run gets (``-d``, ``-x``, ``--no-verify``...).
    """

    launcher: Callable[[], Sequence[str]]
    #: ``safe-upgrade`` (stages, the fleet table, resume), or ``verify`` (``verify --fleet``:
    #: every target checked by ``flask db verify``, read only, nothing recorded).
    command: Literal["safe-upgrade", "verify"] = "safe-upgrade"
    revision: str = "heads"
    child_args: tuple[str, ...] = ()
    parallel: int = 1
    on_error: Literal["continue", "stop"] = "continue"
    canary: int = 0
    shard: Shard | None = None
    directory: str | Path | None = None
    environ: Mapping[str, str] = field(default_factory=lambda: dict(os.environ))
    poll_seconds: float = 0.05


class _Process(Protocol):
    """A target's process: ``subprocess.Popen``, or a forked one (``forking.client.Forked``)."""

    def poll(self) -> int | None: ...

    def wait(self, timeout: float | None = None) -> int: ...

    def send_signal(self, sig: int) -> None: ...


@dataclass
class _Child:
    target: FleetTarget
    result: TargetResult
    process: _Process
    stdout: Path
    stderr: Path
    began: float


def run_fleet(app: Flask, options: FleetOptions, progress: FleetProgress | None = None) -> Result:
    """Run the fleet (module docstring); returns the summary report and the exit code.

    Raises :class:`ConfigError` (exit 2) for a bad ``SAFEMIGRATE_TARGETS`` or option and
    :class:`~flask_safemigrate.errors.PreflightError` (exit 3) when the control database
    cannot be used.
    """
    progress = progress or FleetProgress()
    with app.app_context():
        setup = project.setup_of(app, options.directory)
        if setup.multidb:
            raise ConfigError(
                "--fleet works with a single-database migrations directory; this one uses"
                " the multi-database template",
                hint="give each tenant its own database URL in SAFEMIGRATE_TARGETS and keep"
                " env.py single-database",
            )
        verifying = options.command == "verify"
        goal = () if verifying else _goal(setup, options.revision)
        targets = load(app, setup.settings)
        app_url = setup.targets[0].url
        control_url = setup.settings.fleet_url or app_url
        budget = setup.settings.fleet_connections
        settings = setup.settings
        version_table = setup.version_table
    mine = options.shard.select(targets) if options.shard else targets
    launcher = tuple(options.launcher())
    control = table.control_engine(control_url)
    outputs = tempfile.TemporaryDirectory(prefix="safemigrate-fleet-")
    server: list[ForkServer] = []
    try:
        # Started first: it imports while the parent reads the targets' versions.
        server += _fork_server(options.environ) if settings.fleet_fork else []
        if not verifying:
            table.ensure(control)
        run = _Run(
            options=options,
            progress=progress,
            control=control,
            run_id=uuid.uuid4().hex[:16],
            goal=goal,
            launcher=launcher,
            outputs=Path(outputs.name),
            server=server,
        )
        positions = (
            {} if verifying else _positions(mine, app_url, version_table, settings.connect_timeout)
        )
        pending = []
        for target in mine:
            at = positions.get(target.key)
            if not verifying and at is not None and set(at) == set(goal):
                run.record_current(target, at)
            else:
                run.results[target.key] = TargetResult(
                    target.key, target.kind, "parallel", from_revision=_joined(at)
                )
                pending.append(target)
        servers = any(database.dialect_of(t.url_on(app_url)) != "sqlite" for t in pending)
        workers = options.parallel
        if servers:
            workers = min(workers, max(1, budget // CONNECTIONS_PER_TARGET))
        canary = pending[: options.canary]
        rest = pending[options.canary :]
        progress.emit(
            FleetPlanned(
                run.run_id,
                len(mine),
                len(pending),
                len(canary),
                workers,
                "verify" if verifying else f"upgrade to {run.goal_text}",
            )
        )
        _ready(server, pending)
        stopped = None
        if canary:
            stopped = run.stage(canary, "canary", workers=1, stop_on_error=True)
        if stopped is None:
            stopped = run.stage(rest, "parallel", workers, options.on_error == "stop")
        else:
            run.skip(rest, f"not started: canary target {stopped!r} failed")
        report = _report(run, targets, mine, workers, options, stopped)
        return Result(report, _exit_code([run.results[t.key] for t in mine]))
    finally:
        for each in server:
            each.close()
        outputs.cleanup()
        control.dispose()


def _fork_server(environ: Mapping[str, str]) -> list[ForkServer]:
    """The run's fork server, starting, or none (each target is then a fresh ``subprocess``).

    Started with the environment and working directory the children get, so the imports it
    does find what theirs would."""
    try:
        return [ForkServer(environ=environ, cwd=Path.cwd(), timeout=None)]
    except ForkServerError:
        return []


def _ready(server: list[ForkServer], pending: Sequence[FleetTarget]) -> None:
    """Wait for the server to be ready before the first target; none is left when it failed
    or when no target is to run."""
    for each in list(server):
        try:
            if not pending:
                raise ForkServerError("no target to run")
            each.wait_ready(timeout=60)
        except ForkServerError:
            each.close()
            server.remove(each)


def _goal(setup: project.Setup, revision: str) -> tuple[str, ...]:
    try:
        return tuple(sorted(setup.graph.resolve(revision)))
    except Exception as exc:  # the graph's lookup errors say what is wrong with the reference
        raise ConfigError(
            f"--fleet: revision {revision!r} does not name revisions of the history: {exc}",
            hint="give heads, head, or a revision id (relative +N is per target, not for a fleet)",
        ) from None


def _joined(revisions: Sequence[str] | None) -> str | None:
    """Revisions as the table and the report show them: ``base`` for none, ``None`` when
    unknown (the target could not be read)."""
    if revisions is None:
        return None
    return ",".join(sorted(revisions)) or "base"


def _positions(
    targets: Sequence[FleetTarget], app_url: sa.URL, version_table: str, timeout: float
) -> dict[str, tuple[str, ...]]:
    """Each reachable target's revisions (a target that cannot be read is left out: its
    own run reports why). Schema targets share one connection to the app's database."""
    found: dict[str, tuple[str, ...]] = {}
    schemas = [t for t in targets if t.schema is not None]
    if schemas:
        try:
            with database.connect(app_url, timeout=timeout, retries=0) as conn:
                for target in schemas:
                    found[target.key] = database.current_revisions(
                        conn, version_table=version_table, schema=target.schema
                    )
                    conn.rollback()
        except Exception:  # unknown: each target's own run reports why
            pass
    for target in targets:
        if target.url is None:
            continue
        try:
            with database.connect(target.url, timeout=timeout, retries=0) as conn:
                found[target.key] = database.current_revisions(conn, version_table=version_table)
        except Exception:
            continue
    return found


class _Run:
    def __init__(
        self,
        *,
        options: FleetOptions,
        progress: FleetProgress,
        control: sa.Engine,
        run_id: str,
        goal: tuple[str, ...],
        launcher: tuple[str, ...],
        outputs: Path,
        server: list[ForkServer],
    ) -> None:
        self.launcher = launcher
        #: Where each target's stdout and stderr go (``<n>.out``, ``<n>.err``).
        self.outputs = outputs
        #: The fork server the targets are forked from; none: each is a fresh subprocess.
        self.server = server
        self.options = options
        #: Whether outcomes go to the fleet table (safe-upgrade; verify records nothing).
        self.record = options.command == "safe-upgrade"
        self.progress = progress
        self.control = control
        self.run_id = run_id
        self.goal = goal
        self.goal_text = _joined(goal) or "base"
        self.results: dict[str, TargetResult] = {}
        self.began = time.monotonic()
        self.started = 0
        self.done = 0
        self.failed = 0
        self.shard = str(options.shard) if options.shard else None

    def record_current(self, target: FleetTarget, at: tuple[str, ...]) -> None:
        result = TargetResult(target.key, target.kind, "check", "current", _joined(at), _joined(at))
        result.attempts = self._row_started(target, "check", _joined(at), status="current")
        self.results[target.key] = result

    def skip(self, targets: Sequence[FleetTarget], why: str) -> None:
        for target in targets:
            result = self.results[target.key]
            result.status, result.error = "skipped", why
            if not self.record:
                continue
            self._row_started(target, result.stage, result.from_revision, status="skipped")
            self._row_finished(target, "skipped", result.from_revision, None, why)

    def stage(
        self, targets: Sequence[FleetTarget], name: str, workers: int, stop_on_error: bool
    ) -> str | None:
        """Run ``targets`` ``workers`` at a time; the key of the failure that stopped the
        stage (``stop_on_error``), else ``None``."""
        queue = collections.deque(targets)
        running: list[_Child] = []
        stopped: str | None = None
        try:
            while queue or running:
                while queue and stopped is None and len(running) < workers:
                    with held_signals.held():  # a started target is always in `running`
                        running.append(self._start(queue.popleft(), name, len(running) + 1))
                time.sleep(self.options.poll_seconds)
                for child in [c for c in running if c.process.poll() is not None]:
                    with held_signals.held():  # ...until its outcome is recorded
                        running.remove(child)
                        self._finish(child, len(running), len(queue))
                    if child.result.failed and stop_on_error and stopped is None:
                        stopped = child.target.key
                if stopped is not None and queue and not running:
                    with held_signals.held():
                        self.skip(
                            list(queue), f"not started: target {stopped!r} failed ({name} stage)"
                        )
                    queue.clear()
        except BaseException:
            with held_signals.held():  # a second Ctrl-C does not cut the clean-up short
                for child in running:  # Ctrl-C, SIGTERM: each child stops as safe-upgrade does
                    if child.process.poll() is None:
                        child.process.send_signal(signal.SIGTERM)
                for child in running:
                    child.process.wait()
                    self._finish(child, 0, 0, interrupted=True)
            raise
        return stopped

    def _start(self, target: FleetTarget, stage: str, running: int) -> _Child:
        result = self.results[target.key]
        result.stage = stage
        result.started_at = dt.datetime.now(dt.UTC).isoformat()
        if self.record:
            result.attempts = self._row_started(target, stage, result.from_revision)
        command = ["safe-upgrade", self.options.revision] if self.record else ["verify"]
        argv = [
            *self.launcher,
            *command,
            *self.options.child_args,
            "--format",
            "json",
            "--fleet-target",
            target.key,
        ]
        # Removed in _finish, once the child has ended: they outlive this function.
        self.started += 1
        stdout, stderr = (self.outputs / f"{self.started}.{n}" for n in ("out", "err"))
        process = self._launch(argv, stdout, stderr)
        self.progress.emit(TargetStarted(target.key, stage, running))
        return _Child(target, result, process, stdout, stderr, time.monotonic())

    def _launch(self, argv: list[str], stdout: Path, stderr: Path) -> _Process:
        """The target's process, in its own session: a Ctrl-C at the terminal reaches the
        parent only, which stops each child once (SIGTERM, the same path as Ctrl-C in
        safe-upgrade). Forked when the run has a fork server (module docstring)."""
        env = dict(self.options.environ)
        for server in self.server:
            if server.gone:  # it ended during the run: the next targets start fresh
                continue
            with contextlib.suppress(ForkServerError):  # this one too
                return server.spawn(
                    argv, env=env, cwd=Path.cwd(), stdout=stdout, stderr=stderr, new_session=True
                )
        with stdout.open("wb") as out, stderr.open("wb") as err:
            return subprocess.Popen(
                argv,
                stdout=out,
                stderr=err,
                stdin=subprocess.DEVNULL,
                env=env,
                start_new_session=True,
            )

    def _finish(
        self, child: _Child, running: int, queued: int, *, interrupted: bool = False
    ) -> None:
        result = child.result
        code = child.process.wait()  # it has ended: its exit status at once
        result.exit_code = code
        result.seconds = time.monotonic() - child.began
        result.finished_at = dt.datetime.now(dt.UTC).isoformat()
        report = _read_json(child.stdout)
        tail = _last_line(child.stderr)
        child.stdout.unlink(missing_ok=True)
        child.stderr.unlink(missing_ok=True)
        result.report = report
        if report is not None:
            current = report.get("current")
            if isinstance(current, list):
                result.to_revision = _joined([str(r) for r in current])
        if interrupted:
            result.status = "interrupted"
            result.error = "the fleet run was interrupted while this target ran"
        elif getattr(child.process, "lost", False):
            result.status = "crashed"
            why = "its exit status was lost: the fork server ended while it ran"
            result.error = f"{why}: {tail}" if tail else why
        elif code == 0 and report is not None:
            result.status = "ok"
        elif report is not None:
            result.status = "failed"
            result.error = _report_error(report) or f"safe-upgrade exited {code}"
        else:
            result.status = "crashed"
            why = f"killed by signal {-code}" if code < 0 else f"exited {code} without a report"
            result.error = f"{why}: {tail}" if tail else why
        if result.error:
            result.error = database.mask_text(result.error, child.target.url or "sqlite://")
        if self.record:
            self._record(child.target, result)
        self.done += 1
        self.failed += result.failed
        self.progress.emit(
            TargetFinished(
                result, self.done, self.failed, running, queued, time.monotonic() - self.began
            )
        )

    def _record(self, target: FleetTarget, result: TargetResult) -> None:
        self._row_finished(
            target, result.status, result.to_revision, result.exit_code, result.error
        )

    def _row_started(
        self, target: FleetTarget, stage: str, from_revision: str | None, status: str = "running"
    ) -> int:
        """The target's row of this run in the fleet table; its attempt number."""
        return table.start(
            self.control,
            run_id=self.run_id,
            target=target.key,
            kind=target.kind,
            shard=self.shard,
            stage=stage,
            goal=self.goal_text,
            from_revision=from_revision,
            status=status,
        )

    def _row_finished(
        self,
        target: FleetTarget,
        status: str,
        to_revision: str | None,
        exit_code: int | None,
        error: str | None,
    ) -> None:
        table.finish(
            self.control,
            run_id=self.run_id,
            target=target.key,
            status=status,
            to_revision=to_revision,
            exit_code=exit_code,
            error=error,
        )


def _read_json(path: Path) -> dict[str, Any] | None:
    text = path.read_bytes().decode("utf-8", errors="replace").strip()
    try:
        data = json.loads(text)
    except json.JSONDecodeError:
        return None
    return data if isinstance(data, dict) else None


def _last_line(path: Path) -> str:
    with path.open("rb") as stream:
        stream.seek(0, os.SEEK_END)
        size = stream.tell()
        stream.seek(max(0, size - 4000))
        lines = stream.read().decode("utf-8", errors="replace").strip().splitlines()
    return lines[-1].strip()[:500] if lines else ""


def _report_error(report: Mapping[str, Any]) -> str | None:
    """The first problem's message of a child's report (or its error's)."""
    if isinstance(report.get("message"), str):
        return str(report["message"])
    for problem in report.get("problems") or ():
        if isinstance(problem, Mapping) and problem.get("severity") == "error":
            return str(problem.get("message"))
    return None


def _exit_code(results: Any) -> ExitCode:
    codes = {r.exit_code for r in results if r.failed}
    if any(r.status in {"crashed", "interrupted"} for r in results):
        codes.add(int(ExitCode.PREFLIGHT))
    if not codes:
        return ExitCode.OK
    for code in _PRIORITY:
        if int(code) in codes:
            return code
    if int(ExitCode.PREFLIGHT) in codes:
        return ExitCode.PREFLIGHT
    if int(ExitCode.LOCK_TIMEOUT) in codes:
        return ExitCode.LOCK_TIMEOUT
    return ExitCode.PREFLIGHT


def _report(
    run: _Run,
    targets: Sequence[FleetTarget],
    mine: Sequence[FleetTarget],
    workers: int,
    options: FleetOptions,
    stopped: str | None,
) -> Report:
    results = [run.results[t.key] for t in mine]
    counts = collections.Counter(r.status for r in results)
    ordered = sorted(results, key=lambda r: (not r.failed, r.status != "skipped"))
    failed = counts["failed"] + counts["crashed"] + counts["interrupted"]
    shard_text = f" of {len(targets)} (shard {options.shard})" if options.shard else ""
    if not run.record:
        summary = (
            f"fleet verify {run.run_id}: {len(mine)} target(s){shard_text}: {counts['ok']}"
            f" verified, {failed} with problems"
        )
    else:
        summary = (
            f"fleet run {run.run_id}: {len(mine)} target(s){shard_text} -> {run.goal_text}:"
            f" {counts['ok']} upgraded, {counts['current']} already there, {failed} failed,"
            f" {counts['skipped']} skipped" + (f"; stopped at {stopped!r}" if stopped else "")
        )
    return Report(
        options.command,
        facts={
            "ok": failed == 0,
            "run_id": run.run_id,
            "goal": list(run.goal),
            "shard": str(options.shard) if options.shard else None,
            "parallel": workers,
            "canary": options.canary,
            "on_error": options.on_error,
            "stopped_at": stopped,
            "counts": dict(sorted(counts.items())),
            "targets": [r.to_dict() for r in ordered],
            "summary": summary,
        },
    )
