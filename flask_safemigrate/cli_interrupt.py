"""Ctrl-C and SIGTERM during safe-upgrade: one report of what stopped, where the database
stands and what the interrupted revision left, with the exit status a shell or a supervisor
expects (130, 143), instead of click's bare "Aborted!"."""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, NoReturn

import click

from flask_safemigrate import suggested, upgrade
from flask_safemigrate.render import render_json
from flask_safemigrate.render.progress import ProgressPrinter
from flask_safemigrate.report import Finding, Report, Severity
from flask_safemigrate.safe_text import printable
from flask_safemigrate.text import plural

__all__ = [
    "INTERRUPTED",
    "TERMINATED",
    "Terminated",
    "left_behind",
    "position_after",
    "report_interrupted",
    "sigterm_interrupts",
]


INTERRUPTED = 130  # 128 + SIGINT, what a shell reports for Ctrl-C
TERMINATED = 143  # 128 + SIGTERM: what a supervisor that sent it expects back


class Terminated(KeyboardInterrupt):
    """SIGTERM, turned into the interruption Ctrl-C already takes through the run."""

    #: How the run names the signal in what it records (``Ctrl-C`` when absent).
    signal_name = "SIGTERM"


@contextmanager
def sigterm_interrupts() -> Iterator[None]:
    """While safe-upgrade runs, SIGTERM (a deploy replacing the pod, ``docker stop``) stops
    it as Ctrl-C does: the running revision rolls back, the lock is released and one line
    says what stopped, instead of the silent exit 143 of Python's default handler."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def terminate(_signum: int, _frame: object) -> None:
        raise Terminated

    previous = signal.signal(signal.SIGTERM, terminate)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def report_interrupted(
    progress: upgrade.Progress, dialects: set[str | None], as_json: bool, stop: KeyboardInterrupt
) -> NoReturn:
    """Ctrl-C: say what it stopped, where the database stands and how to go on, instead of
    click's bare "Aborted!" (exit 1, which reads as "checks failed"). The lock and
    connections were released on the way out, and the run read every target again.

    With ``--format json`` stdout still gets the report (every exit keeps its shape): the
    stage reached, the revisions committed (as progress told them), ``current`` as read after
    the interruption (``null`` when it could not be read) and what the running revision left.
    """
    facts = stop if isinstance(stop, upgrade.Interrupted) else None
    cause = facts.cause if facts is not None else stop
    how = "SIGTERM" if isinstance(cause, Terminated) else "Ctrl-C"
    code = TERMINATED if how == "SIGTERM" else INTERRUPTED
    echo = progress if isinstance(progress, ProgressPrinter) else None
    running = echo.pending if echo is not None and echo.open_line else None
    running = running or (facts.revision if facts is not None else None)
    if echo is not None and echo.open_line:
        echo.write("interrupted", True)
    waiting = echo is not None and echo.waiting_for_lock and not running
    what = (
        f"while applying {running}"
        if running
        else "while waiting for the migration lock"
        if waiting
        else "while no revision was running"
    )
    current = facts.current if facts is not None else None
    recorded = facts is not None and facts.recorded and running is not None
    outcome = (
        "the migration lock is released and the attempt is recorded as failed in the ledger:"
        " the next run waits for --resolved"
        if recorded
        else "the migration lock is released and nothing was recorded as failed"
        if echo is None or echo.locked
        else "it had not taken the migration lock: nothing was changed"
    )
    message = (
        f"safe-upgrade interrupted ({how}) {what}; {position_after(facts)}; {outcome}."
        f"{left_behind(running, dialects, facts)}"
    )
    if recorded and facts is not None:  # the words of a failed revision's help (checks.failures)
        resume = f"then run `flask db safe-upgrade --resolved {running}`"
        hint = (
            f"undo (or finish) the statements of {running} listed above by hand, {resume}"
            if facts.left == "statements"
            else f"find out what {running} left behind and repair it, {resume}"
        )
    elif current is not None:
        hint = "run `flask db safe-upgrade` again to go on"
    else:
        hint = (
            "`flask db verify` shows where the database stands; run `flask db safe-upgrade`"
            " again to go on"
        )
    command = facts.command if facts is not None else suggested.DEFAULT_PREFIX
    hint = suggested.text_for(hint, command)
    click.echo(f"Error: {printable(message)}", err=True)
    click.echo(f"  help: {hint}", err=True)
    if as_json:
        extra: dict[str, Any] = {"revision": running} if running else {}
        if running and facts is not None and facts.dialect is not None:
            extra["left"] = facts.left
            extra["stays"] = list(facts.stays)
            extra["recorded"] = facts.recorded
            extra["ended_on_server"] = list(facts.ended)
        finding = Finding(
            rule="interrupted", severity=Severity.ERROR, message=message, help=hint, extra=extra
        )
        data: dict[str, Any] = {
            "stage": echo.reached if echo is not None else "preflight",
            "from": None,
            "to": [],
            "current": current,
            "applied": list(echo.applied) if echo is not None else [],
            "plan": [],
            "backup": echo.backup if echo is not None else None,
            "summary": (
                f"safe-upgrade interrupted (exit {code}); {position_after(facts)}: {running}"
                " may have left statements behind (`flask db verify` lists the failure);"
                f" repair them, then run `flask db safe-upgrade --resolved {running}`."
                if recorded
                else f"safe-upgrade interrupted (exit {code}); {position_after(facts)}: run"
                " `flask db safe-upgrade` again to go on (`flask db verify` checks the rest)."
                if current is not None
                else f"safe-upgrade interrupted (exit {code}); position not read: run"
                " `flask db verify`."
            ),
            "interrupted": True,
        }
        data["summary"] = suggested.text_for(data["summary"], command)
        finding = suggested.finding_for(finding, command)
        click.echo(render_json(Report("safe-upgrade", [finding], data)))
    raise SystemExit(code)


def position_after(facts: upgrade.Interrupted | None) -> str:
    """Where each database stands after the interruption, as read again."""
    if facts is None or not facts.positions:
        return "position not read"
    if len(facts.positions) == 1:
        (only,) = facts.positions
        if only.current is None:
            return "position not read (the database could not be read again)"
        return f"the database is at {', '.join(only.current) or 'base'}"
    return "databases: " + ", ".join(
        f"{p.name} at {', '.join(p.current) or 'base'}"
        if p.current is not None
        else f"{p.name} not read"
        for p in facts.positions
    )


def left_behind(
    running: str | None, dialects: set[str | None], facts: upgrade.Interrupted | None
) -> str:
    """What an interrupted revision leaves, for the app's databases only: PostgreSQL and
    SQLite roll back what was not committed; MariaDB/MySQL keep the DDL that ran."""
    if not running:
        return ""
    if facts is not None and facts.dialect is not None:
        ended = ", ".join(str(session) for session in facts.ended)
        in_flight = (
            f" The statement in flight is DDL; it was ended on the server (KILL CONNECTION"
            f" {ended}), which rolls it back unless it had finished first: whether it took"
            " effect is unknown."
            if facts.left == "unknown" and ended
            else " The statement in flight is DDL, which MariaDB/MySQL may have finished and"
            " committed after the interruption: whether it took effect is unknown."
            if facts.left == "unknown"
            else f" The statement in flight was ended on the server (KILL CONNECTION {ended})."
            if ended
            else ""
        )
        if facts.stays and facts.dialect == "mysql":
            return (
                f" MariaDB/MySQL cannot roll back DDL: {plural(len(facts.stays), 'statement')} of"
                f" {running} ran and {'stays' if len(facts.stays) == 1 else 'stay'} applied:"
                f" {'; '.join(facts.stays)}.{in_flight}"
            )
        if in_flight:
            return in_flight
        if facts.stays:
            return (
                f" Its autocommit_block committed {plural(len(facts.stays), 'statement')} of"
                f" {running}, which stay: {'; '.join(facts.stays)}; the rest rolled back."
            )
        if facts.dialect == "mysql":
            return f" No DDL of {running} had run: nothing of it was left behind."
        return " Its transaction rolled back: nothing of it was left behind."
    if dialects <= {"postgresql", "sqlite"}:
        return " What it had not committed rolled back."
    if dialects == {"mysql"}:
        return (
            f" MariaDB/MySQL cannot roll back DDL: the statements of {running} that ran stay"
            " (a migration written with guards converges when run again)."
        )
    return (
        " On PostgreSQL and SQLite what it had not committed rolled back; on MariaDB/MySQL"
        " its DDL that ran stays."
    )
