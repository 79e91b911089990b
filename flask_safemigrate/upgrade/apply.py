"""Run Alembic's upgrade through the app's own ``env.py`` over one or more targets.

safe-upgrade must work with the stock ``env.py``, which takes its engine from Flask-SQLAlchemy
and its context options from ``app.extensions["migrate"].configure_args``. So everything added
here goes in through those two doors for the length of one call, and is taken out again:

- ``configure_args``: ``transaction_per_migration=True`` (a failed revision rolls back on its
  own, the ones before it stay applied) and an ``on_version_apply`` callback that times each
  revision and writes its ledger row inside the revision's own transaction;
- the commit policy: ``per-revision`` is the single-database template's (the option above);
  ``at-end`` is the multi-database template's, whose ``env.py`` opens one transaction per
  engine and commits them all after the last revision (Alembic then ignores
  ``transaction_per_migration``); there a MariaDB/MySQL target, whose DDL commits itself,
  commits each revision's version and ledger rows as soon as it finishes;
- engine events (:mod:`.engine_events`): each new connection gets the dialect's session settings
  (:mod:`.session_settings`: PostgreSQL's ``lock_timeout`` and ``statement_timeout``,
  MySQL/MariaDB's ``lock_wait_timeout`` and a long ``wait_timeout``, SQLite's pysqlite recipe
  for transactional DDL with ``BEGIN IMMEDIATE``, which also fences out any other writer for
  the revision's length); on every dialect the statements of the running revision are
  recorded, so a failure can name the statement that failed and those that already ran;
- the migration lock's :class:`~flask_safemigrate.lock_guard.Guard`, when given: its fence
  on each new connection, and its check before each revision and before each commit (on
  PostgreSQL with the ledger on, the commit check is the ledger insert's ``RETURNING`` of the
  lock's witness, and the lock's own connection is asked only when that is not "held").

The engine's pool is emptied before and after, so no connection the app uses later keeps a
timeout or the SQLite recipe.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from alembic import command as alembic_command
from sqlalchemy.engine import Engine

from flask_safemigrate import database, faults, history, ledger, lock_guard
from flask_safemigrate.upgrade import heartbeat
from flask_safemigrate.upgrade.engine_events import StatementRecorder, session_scope, tuned
from flask_safemigrate.upgrade.session_settings import revision_session

__all__ = [
    "Applied",
    "CommitPolicy",
    "Pulse",
    "StepFailed",
    "StepInterrupted",
    "TargetPlan",
    "apply",
]


@dataclass(frozen=True)
class Applied:
    """One revision this run applied (committed, with its ledger row when the ledger is on)."""

    revision: str
    seconds: float
    started_at: datetime
    finished_at: datetime
    #: The target it ran on (its engine key: ``None`` is the default database).
    bind: str | None = None


class StepFailed(Exception):
    """The upgrade stopped: which revision, on which statement, and what ran before it."""

    def __init__(
        self,
        *,
        error: BaseException,
        revision: str | None,
        statement: str | None,
        ran: Sequence[str],
        applied: Sequence[Applied],
        started_at: datetime,
        committed: Sequence[str] = (),
        seconds: float,
        bind: str | None = None,
        rolled_back: Sequence[Applied] = (),
        statement_seconds: float | None = None,
        started: bool = True,
    ) -> None:
        super().__init__(str(error))
        #: How long the failing statement ran (for a lock timeout: how long it really waited).
        self.statement_seconds = statement_seconds
        #: Whether the failing revision had begun: False when Alembic stopped before it (a
        #: script of the history that cannot be loaded, env.py): nothing of it ran, and no
        #: failure may be recorded against it.
        self.started = started
        self.bind = bind
        #: ``at-end`` policy: revisions that ran on a transactional target and rolled back.
        self.rolled_back = list(rolled_back)
        self.error = error
        self.revision = revision
        self.statement = statement
        self.ran = list(ran)
        #: The first of ``ran`` that a commit inside the revision made permanent: an
        #: ``autocommit_block`` commits the revision's transaction on entry and runs its own
        #: statements outside any. A failure after it rolls back only the rest.
        self.committed = list(committed)
        self.applied = list(applied)
        self.started_at = started_at
        self.seconds = seconds


@dataclass(frozen=True)
class Pulse:
    """What runs right now, for a heartbeat: the target, the revision, the statement in
    flight and for how many seconds it has run."""

    bind: str | None
    revision: str | None
    statement: str | None
    seconds: float


class StepInterrupted(KeyboardInterrupt):
    """Ctrl-C or SIGTERM (``cause``) while a revision ran: which one, and what it had run.

    Raised once Alembic's context has rolled back what the database can roll back, so the
    run can say what stays; still a ``KeyboardInterrupt``, so nothing on the way treats it
    as a failure of the script.
    """

    def __init__(
        self,
        cause: KeyboardInterrupt,
        *,
        revision: str | None,
        bind: str | None,
        statement: str | None,
        ran: Sequence[str],
        committed: Sequence[str],
        started_at: datetime,
    ) -> None:
        super().__init__(*cause.args)
        self.cause = cause
        self.revision = revision
        self.bind = bind
        self.statement = statement
        self.ran = list(ran)
        self.committed = list(committed)
        self.started_at = started_at
        #: Whether the attempt was recorded as failed in the ledger (``interrupt.record``).
        self.recorded = False
        #: The server sessions ended because they still ran the statement (``interrupt``).
        self.ended: list[int] = []


class _Mark:
    """When the running revision started, by the monotonic clock and the wall clock."""

    def __init__(self) -> None:
        self.clock = time.perf_counter()
        self.started_at = datetime.now(UTC)

    def reset(self) -> None:
        self.clock = time.perf_counter()
        self.started_at = datetime.now(UTC)


@contextmanager
def _configure_args(state: Any, callback: Callable[..., None]) -> Iterator[None]:
    """Add our options to what ``env.py`` passes to ``context.configure``, then restore it."""
    args: dict[str, Any] = state.configure_args
    saved = dict(args)
    theirs = args.get("on_version_apply")
    if theirs is None:
        callbacks: list[Callable[..., None]] = [callback]
    elif callable(theirs):
        callbacks = [theirs, callback]
    else:
        callbacks = [*theirs, callback]
    args["on_version_apply"] = callbacks
    args["transaction_per_migration"] = True
    try:
        yield
    finally:
        args.clear()
        args.update(saved)


def began(error: BaseException, script: history.Script | None, ran: Sequence[str]) -> bool:
    """Whether ``script``'s revision had begun when ``error`` was raised.

    It had when one of its statements ran, or when a function of its file (``upgrade()`` or
    a helper) is on the error's traceback; loading the file (its module body) or anything
    Alembic does before the first revision is not a start.
    """
    if ran:
        return True
    if script is None:
        return False
    target = os.path.realpath(script.path)
    trace = error.__traceback__
    while trace is not None:
        code = trace.tb_frame.f_code
        if code.co_name != "<module>" and os.path.realpath(code.co_filename) == target:
            return True
        trace = trace.tb_next
    return False


def failing_line(error: BaseException, script: history.Script | None) -> int | None:
    """The line of ``script`` the failure came from, else the script's ``revision =`` line."""
    if script is None:
        return None
    found = faults.line_in(error, script.path)
    return found if found is not None else script.line


CommitPolicy = Literal["per-revision", "at-end"]


@dataclass(frozen=True)
class TargetPlan:
    """One target (its engine key), the revisions it is expected to apply, and where it is."""

    key: str | None
    plan: Sequence[history.Script]
    current: Sequence[str] = ()


class _Steps:
    """The (target, script) steps in the order they are expected to run, and those done."""

    def __init__(self, steps: Sequence[tuple[str | None, history.Script]]) -> None:
        self.steps = list(steps)
        #: Per revision: committed; at the end: ran (committed or not). Grown by :meth:`finish`.
        self.done: list[Applied] = []
        #: Per revision: ran, its commit not seen yet (the next BEGIN or the end shows it).
        self.pending: list[Applied] = []
        self._done_keys: set[tuple[str | None, str]] = set()
        #: Every step before this index is done (asked twice per revision: no rescan of 200).
        self._first = 0

    def finish(self, step: Applied) -> None:
        """``step`` is done (see :attr:`done`)."""
        self.done.append(step)
        self._done_keys.add((step.bind, step.revision))
        while self._first < len(self.steps) and self._is_done(self.steps[self._first]):
            self._first += 1

    def _is_done(self, step: tuple[str | None, history.Script]) -> bool:
        return (step[0], step[1].revision) in self._done_keys

    def upcoming(self, key: Any = ...) -> tuple[str | None, history.Script] | None:
        """The next step not done (of target ``key`` when given)."""
        for index in range(self._first, len(self.steps)):
            step = self.steps[index]
            if not self._is_done(step) and (key is ... or step[0] == key):
                return step
        return None


def apply(
    *,
    state: Any,
    config: Any,
    revision: str,
    tag: str | None = None,
    targets: Sequence[TargetPlan],
    commit: CommitPolicy,
    checksums: Mapping[str, str],
    version_table: str,
    ledger_schema: str | None,
    use_ledger: bool,
    lock_timeout: float,
    statement_timeout: float | None,
    on_start: Callable[[int, str | None, history.Script], None],
    on_finish: Callable[[int, str | None, str, float], None],
    guards: Mapping[str | None, lock_guard.Guard],
    on_beat: Callable[[Pulse], None] | None = None,
    beat_every: float = 0,
) -> list[Applied]:
    """Upgrade every target to ``revision`` through ``env.py``; raises :class:`StepFailed`.

    ``config`` is the Alembic config (directory and ``-x`` arguments), ``revision`` and
    ``tag`` what ``flask db upgrade`` takes. ``targets`` is in the order ``env.py`` runs
    them, each plan in the order Alembic applies it (:mod:`.order`).
    ``on_start(position, key, script)`` fires before each revision;
    ``on_finish(position, key, revision, seconds)`` once it committed (``per-revision``:
    when the next transaction begins or the run ends, so a run killed before a revision's
    commit never said "ok" for it) or, ``at-end``, once it ran (committed at once on
    MariaDB/MySQL, with the others at the end). The returned and the
    raised ``applied`` list what was committed.

    ``on_beat(pulse)`` runs every ``beat_every`` seconds from another thread while the
    upgrade runs, with the statement in flight (:class:`Pulse`).

    ``guards`` (each target's held migration lock): a lost lock stops the run with a
    :class:`~flask_safemigrate.errors.LockLost` as the ``StepFailed`` error (see
    :mod:`.lock_guard` for what is rolled back where).
    """
    engines: Mapping[str | None, Engine] = state.db.engines
    key_of = {id(engines[item.key]): item.key for item in targets}
    steps = _Steps([(item.key, script) for item in targets for script in item.plan])
    autocommitting = {
        item.key
        for item in targets
        if not revision_session(database.dialect_of(engines[item.key].url)).transactional_ddl
    }
    at_end = commit == "at-end"
    recorder = StatementRecorder(version_table)
    mark = _Mark()
    who = ledger.applied_by()
    involved = {item.key for item in targets if item.plan}

    def check(key: str | None, rev: str | None, point: lock_guard.Point) -> None:
        guard = guards.get(key)
        if guard is not None and key in involved:
            guard.check(revision=rev, point=point, can_roll_back=key not in autocommitting)

    def finished(step: Applied) -> None:
        steps.finish(step)
        on_finish(len(steps.done) - 1, step.bind, step.revision, step.seconds)

    def witness(key: str | None) -> tuple[lock_guard.Guard | None, str | None]:
        """The guard of ``key`` and its lock's witness, where the ledger insert can ask it (a
        target that rolls back: PostgreSQL); else ``(guard, None)``: :func:`check` asks."""
        guard = guards.get(key) if key in involved else None
        if guard is None or not use_ledger or key in autocommitting:
            return guard, None
        return guard, guard.witness()

    def on_version_apply(ctx: Any, step: Any, heads: Any, run_args: Any) -> None:
        rev = str(step.up_revision_id)
        key = key_of.get(id(ctx.connection.engine))
        guard, asked = witness(key)
        if asked is None:
            check(key, rev, "commit")  # still ours? else roll back (MariaDB: commit, stop after)
        seconds = time.perf_counter() - mark.clock
        started, finished_at = mark.started_at, datetime.now(UTC)
        if use_ledger:
            held = ledger.record(
                ctx.connection,
                revision=rev,
                direction="upgrade",
                checksum=checksums.get(rev),
                started_at=started,
                finished_at=finished_at,
                success=True,
                who=who,
                schema=ledger_schema,
                ensure_table=False,
                witness=asked,
            )
            if asked is not None and guard is not None and not guard.witnessed(held):
                # Not seen held (or a loss seen meanwhile): the lock's connection decides. Lost:
                # LockLost, and the revision rolls back with its row. Held: this login cannot
                # see the lock in pg_locks; the next revisions ask the connection directly.
                check(key, rev, "commit")
                if held is False:
                    guard.witness_disagreed()
        if at_end and key in autocommitting:
            # The revision's DDL committed itself: commit its version and ledger rows too.
            ctx.connection.connection.dbapi_connection.commit()
        done = Applied(rev, seconds, started, finished_at, key)
        recorder.reset()
        mark.reset()
        if not at_end:  # reported once committed: when the next transaction begins, or the end
            steps.pending.append(done)
            return
        finished(done)
        following = steps.upcoming()
        if following is not None:
            check(following[0], following[1].revision, "start")
            on_start(len(steps.done), *following)
            return
        # env.py commits every target's transaction next: is each lock they ran under ours?
        last = {s.bind: s.revision for s in steps.done if s.bind not in autocommitting}
        for where, last_revision in last.items():
            check(where, last_revision, "commit")

    def flush() -> None:
        if not steps.pending:
            return
        finished(steps.pending.pop())
        following = steps.upcoming()
        if following is not None:
            on_start(len(steps.done), *following)

    def on_begin(key: str | None) -> Callable[..., None]:
        def begin(*_args: Any) -> None:
            flush()  # per revision: a new transaction, so the last one committed
            first = steps.upcoming(key)
            check(key, first[1].revision if first is not None else None, "start")

        return begin

    with contextlib.ExitStack() as stack:
        for item in targets:
            engine = engines[item.key]
            guard = guards.get(item.key)
            stack.enter_context(
                tuned(
                    engine,
                    lock_timeout=lock_timeout,
                    statement_timeout=statement_timeout,
                    recorder=recorder,
                    on_begin=on_begin(item.key),
                    where=item.key,
                    scope=session_scope(engine.url, version_table, ledger_schema),
                    fence=guard.fence if guard is not None else None,
                )
            )
        stack.enter_context(_configure_args(state, on_version_apply))
        if on_beat is not None:

            def beat(_seconds: float) -> None:
                seconds = recorder.in_flight()
                if seconds is None:
                    return  # between statements: the progress line speaks for itself
                where = recorder.where
                running = steps.upcoming(where) or steps.upcoming()
                rev = running[1].revision if running is not None else None
                on_beat(Pulse(where, rev, recorder.current, seconds))

            stack.enter_context(heartbeat.ticking(beat_every, beat))
        if steps.steps:
            on_start(0, *steps.steps[0])
        mark.reset()
        try:
            alembic_command.upgrade(config, revision, tag=tag)
            flush()
        except KeyboardInterrupt as stop:
            running = steps.upcoming(recorder.where) or steps.upcoming()
            raise StepInterrupted(
                stop,
                revision=running[1].revision if running is not None else None,
                bind=running[0] if running is not None else recorder.where,
                statement=recorder.current,
                ran=recorder.ran,
                committed=recorder.ran[: recorder.kept],
                started_at=mark.started_at,
            ) from stop
        except Exception as exc:  # a script can raise anything: each is a failed step
            statement = recorder.current or getattr(exc, "statement", None)
            failing = steps.upcoming(recorder.where) or steps.upcoming()
            kept = [s for s in steps.done if not at_end or s.bind in autocommitting]
            raise StepFailed(
                error=exc,
                revision=failing[1].revision if failing is not None else None,
                statement=statement,
                ran=recorder.ran,
                committed=recorder.ran[: recorder.kept],
                applied=kept,
                rolled_back=[s for s in steps.done if s not in kept],
                started_at=mark.started_at,
                seconds=time.perf_counter() - mark.clock,
                bind=failing[0] if failing is not None else recorder.where,
                statement_seconds=recorder.in_flight(),
                started=bool(steps.done or steps.pending)
                or began(exc, failing[1] if failing is not None else None, recorder.ran),
            ) from exc
    # A MariaDB/MySQL revision that finished after its lock was lost committed: say so.
    for where in sorted(guards, key=str):
        try:
            guards[where].raise_if_lost()
        except Exception as exc:
            raise StepFailed(
                error=exc,
                revision=None,
                statement=None,
                ran=[],
                applied=steps.done,
                started_at=mark.started_at,
                seconds=0.0,
                bind=where,
                started=False,
            ) from exc
    return steps.done
