"""Click pieces shared by ``flask db`` (cli.py) and the standalone ``safemigrate`` (console.py).

Nothing here imports Flask, SQLAlchemy or Alembic: ``safemigrate lint`` runs as a pre-commit
hook on every commit, and importing those would triple its start-up time.
"""

from __future__ import annotations

import contextlib
import dataclasses
import difflib
import functools
import json
import logging
import os
import shlex
import sys
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn, ParamSpec, TextIO, TypeVar, cast

import click

from flask_safemigrate import suggested
from flask_safemigrate.errors import ConfigError, ExitCode, SafeMigrateError
from flask_safemigrate.render import (
    json_log,
    render_json,
    render_lint_text,
    render_text,
    should_color,
)
from flask_safemigrate.report import SCHEMA_VERSION, Report, Result
from flask_safemigrate.safe_text import printable
from flask_safemigrate.text import plural

P = ParamSpec("P")
R = TypeVar("R")


def format_option(*formats: str) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """``--format`` with the given choices (the value arrives as ``output_format``), and
    ``--log-format``, which every command with a ``--format`` takes: with ``json``, whatever
    the command writes to stderr while it runs is one JSON record per line
    (:mod:`flask_safemigrate.render.json_log`); stdout keeps the ``--format`` result."""
    option = click.option(
        "--format",
        "output_format",
        type=click.Choice(formats or ("text", "json")),
        default="text",
        show_default=True,
        help="Output format.",
    )

    def decorate(command: Callable[P, R]) -> Callable[P, R]:
        return cast("Callable[P, R]", _log_format_option(option(command)))

    return decorate


def _log_format_option(command: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(command)
    def wrapper(*args: Any, log_format: str = "text", **kwargs: Any) -> Any:
        if log_format != "json":
            return command(*args, **kwargs)
        with stderr_as_json():
            return command(*args, **kwargs)

    decorated: Callable[..., Any] = click.option(
        "--log-format",
        type=click.Choice(("text", "json")),
        default="text",
        show_default=True,
        help="What the command writes to stderr: lines for people, or one JSON object per"
        " line (timestamp, level, event, fields) for log collectors.",
    )(wrapper)
    return decorated


_JSON_LOGS: list[json_log.JsonLines] = []


def json_log_active() -> json_log.JsonLines | None:
    """The stderr of the running command's ``--log-format json``, or ``None`` (text)."""
    return _JSON_LOGS[-1] if _JSON_LOGS else None


def log_outcome(report: Report) -> None:
    """With ``--log-format json``: the run's problems (each a ``problem`` record, its level
    the finding's severity, its fields the JSON report's ``problems`` entry) and its ``summary``
    record on stderr. A log collector reads stderr only: without them it learnt that a deploy
    failed (``run_ended``) but never why, which the text on stdout said."""
    stream = json_log_active()
    if stream is None:
        return
    for finding in report.findings:
        stream.record(
            "problem", _LOG_LEVELS.get(str(finding.severity), "info"), finding.as_problem_dict()
        )
    ok = bool(report.facts.get("ok", report.ok))
    stream.record(
        "summary", "info" if ok else "error", {"ok": ok, "message": report.facts.get("summary")}
    )


_LOG_LEVELS = {"error": "error", "warning": "warning", "info": "info"}


@contextlib.contextmanager
def stderr_as_json() -> Iterator[json_log.JsonLines]:
    """While the block runs, what reaches stderr is JSON records: ``sys.stderr``, the root
    logger, and file descriptor 2 (what a post-write hook's subprocess or C code writes),
    which is piped and read back line by line."""
    sys.stderr.flush()
    pipe = _Pipe.open()
    real: TextIO | None = None
    if pipe is not None and _is_descriptor_2(sys.stderr):
        # The records go to the original descriptor, not round through the pipe. A stderr
        # that is not descriptor 2 (a test runner's) stays the target.
        real = os.fdopen(os.dup(pipe.saved), "w", encoding="utf-8")
    stream = json_log.JsonLines(real or sys.stderr)
    pump = pipe.pump(stream) if pipe is not None else None
    handler = json_log.RecordHandler(stream)
    root = logging.getLogger()
    root.addHandler(handler)
    _JSON_LOGS.append(stream)
    try:
        with contextlib.redirect_stderr(stream):
            yield stream
    finally:
        _JSON_LOGS.remove(stream)
        root.removeHandler(handler)
        stream.flush()
        if pipe is not None and pump is not None:
            pipe.restore()  # the pipe's last write end closes: the pump reads to its end
            pump.join(timeout=5)
        if pump is None or not pump.is_alive():  # a pump still reading keeps writing to it
            stream.close()  # flushes; closed before its target, never at garbage collection
        if real is not None:
            real.close()


class _Pipe:
    """File descriptor 2 pointed at a pipe, and the original kept to restore."""

    def __init__(self, saved: int, read: int) -> None:
        self.saved = saved
        self.read = read

    @classmethod
    def open(cls) -> _Pipe | None:
        """``None`` where there is no descriptor 2 (embedded, closed): Python-level only."""
        try:
            saved = os.dup(2)
        except OSError:
            return None
        read, write = os.pipe()
        os.dup2(write, 2)
        os.close(write)
        return cls(saved, read)

    def pump(self, stream: json_log.JsonLines) -> threading.Thread:
        """Read what descriptor 2 gets, line by line, into ``stream`` until the pipe closes."""

        def run() -> None:
            with os.fdopen(self.read, "r", encoding="utf-8", errors="replace") as lines:
                for line in lines:
                    stream.write(line)

        thread = threading.Thread(target=run, name="safemigrate-stderr-json", daemon=True)
        thread.start()
        return thread

    def restore(self) -> None:
        os.dup2(self.saved, 2)
        os.close(self.saved)


def _is_descriptor_2(stream: TextIO) -> bool:
    try:
        return stream.fileno() == 2
    except (OSError, ValueError, AttributeError):  # io.UnsupportedOperation is an OSError
        return False


def echo_result(result: Result, output_format: str) -> NoReturn:
    """Write the result's report to stdout in the chosen format and exit with its code."""
    if output_format == "json":
        click.echo(render_json(result.report))
    elif output_format == "markdown":
        from flask_safemigrate.render.markdown import render_markdown

        name = result.report.command
        click.echo(
            render_markdown(
                result.report, title=f"flask-safemigrate {name}", again=f"`flask db {name}`"
            )
        )
    else:
        color = should_color(sys.stdout)
        click.echo(render_text(result.report, color=color), color=color)
    exit_with(result.exit_code)


def check_markdown_plan(output_format: str, dry_run: bool) -> None:
    """safe-upgrade's Markdown is the plan of a dry run: refused (exit 2) without one."""
    if output_format == "markdown" and not dry_run:
        raise ConfigError(
            "--format markdown is the plan of a dry run: it needs --dry-run",
            hint="run `flask db safe-upgrade --dry-run --format markdown`; an upgrade reports"
            " as text or JSON",
        )


def echo_markdown_plan(report: Report, directory: Path) -> None:
    """safe-upgrade's dry-run report as the Markdown plan (stdout: only the document)."""
    from flask_safemigrate.render.markdown_plan import render_plan_markdown

    again = f"`{suggesting(directory)} safe-upgrade --dry-run`"
    click.echo(render_plan_markdown(report, again=again))


def error_document(error: SafeMigrateError) -> str:
    """The JSON object ``--format json`` prints for an error raised before a report exists
    (docs/exit-codes.md): ``schema_version``, ``ok: false``, then the error's own keys
    (:meth:`~flask_safemigrate.errors.SafeMigrateError.to_dict`)."""
    document = {"schema_version": SCHEMA_VERSION, "ok": False, **error.to_dict()}
    return json.dumps(document, indent=2, default=str)


def error_record(error: SafeMigrateError) -> dict[str, str]:
    """The fields of ``--log-format json``'s ``error`` record: message, where, help (escaped,
    as the text lines are; empty ones left out)."""
    fields = {"message": error.message, "where": error.where, "help": error.hint}
    return {key: printable(value) for key, value in fields.items() if value}


def fail(error: SafeMigrateError, output_format: str = "text") -> NoReturn:
    """Report an expected failure in one line (plus where/help) and exit with its code.

    Its head is ``Error:``, as click's usage errors are: the command stopped before it had a
    report. A report's problems are ``error[check]:`` blocks (``render.text.render_finding``);
    docs/exit-codes.md, "What a failure looks like", says which is which.

    With ``--format json`` the error is the JSON object on stdout; with ``--log-format json``
    it is also an ``error`` record on stderr (a log collector reads only stderr)."""
    log = json_log_active()
    if output_format == "json":
        click.echo(error_document(error))
    if log is not None:
        log.record("error", "error", error_record(error))
    elif output_format != "json":
        # A script's or the database's words can be in any of these: one line each, escaped.
        click.echo(f"Error: {printable(error.message)}", err=True)
        if error.where:
            click.echo(f"  where: {printable(error.where)}", err=True)
        if error.hint:
            click.echo(f"  help: {printable(error.hint)}", err=True)
    raise SystemExit(int(error.exit_code))


def exit_with(code: ExitCode) -> NoReturn:
    raise SystemExit(int(code))


def handles_errors(command: Callable[P, R]) -> Callable[P, R]:
    """Turn a :class:`SafeMigrateError` raised by a command into :func:`fail`.

    Its hint suggests the command's own ``flask db -d DIR`` (the code that raised it words
    it for the app's directory, as checks do).
    """

    @functools.wraps(command)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return command(*args, **kwargs)
        except SafeMigrateError as error:
            output_format: Any = kwargs.get("output_format", "text")
            if error.hint is not None:
                error.hint = suggested.text_for(error.hint, _prefix(kwargs.get("directory")))
            fail(error, str(output_format))

    return wrapper


def _prefix(directory: Any) -> str:
    """:func:`suggesting` for a command's ``-d`` (``None``: the group's, else the app's);
    plain ``flask db`` outside an app (``safemigrate lint``) or when the app has no SafeMigrate.
    Without Flask loaded there is no app context, and ``safemigrate lint`` never loads it."""
    if "flask" not in sys.modules:
        return suggested.DEFAULT_PREFIX
    from flask import current_app, has_app_context

    if not has_app_context() or "safemigrate" not in current_app.extensions:
        return suggested.DEFAULT_PREFIX
    return suggesting(command_directory(directory if isinstance(directory, str) else None))


# --- lint ---------------------------------------------------------------------------------


def _split(values: tuple[str, ...]) -> tuple[str, ...] | None:
    """``--select a,b --select c`` -> ``("a", "b", "c")``; ``None`` when not given."""
    if not values:
        return None
    return tuple(part.strip() for value in values for part in value.split(",") if part.strip())


@dataclass(frozen=True)
class LintArgs:
    """The options ``flask db lint`` and ``safemigrate lint`` share, as one value: each
    command takes it instead of repeating the eleven parameters (:func:`lint_options`)."""

    select: tuple[str, ...]
    ignore: tuple[str, ...]
    fail_on: str | None
    dialect: str | None
    since: str | None
    releases: str | None
    report_unused_ignores: bool | None
    baseline: Path | None
    write_baseline: Path | None
    explain: str | None
    no_cache: bool


_LINT_ARGS = tuple(field.name for field in dataclasses.fields(LintArgs))


def lint_options(command: Callable[..., R]) -> Callable[..., R]:
    """The options ``flask db lint`` and ``safemigrate lint`` share, handed to ``command``
    as one :class:`LintArgs` (its keyword ``args``); the command's own parameters (its
    paths, ``--pending``, ``--directory``) and ``output_format`` (which
    :func:`handles_errors` reads to word a failure) stay keywords of their own."""

    @functools.wraps(command)
    def bundled(**kwargs: Any) -> R:
        shared = {name: kwargs.pop(name) for name in _LINT_ARGS}
        return command(args=LintArgs(**shared), **kwargs)

    options: list[Callable[[Any], Any]] = [
        click.option("--select", multiple=True, help="Rules to run (names, codes, prefixes)."),
        click.option("--ignore", multiple=True, help="Rules to skip (names, codes, prefixes)."),
        click.option(
            "--fail-on",
            type=click.Choice(["error", "warning", "info"]),
            default=None,
            help="Lowest severity that fails the run [default: error].",
        ),
        click.option(
            "--dialect",
            type=click.Choice(["auto", "postgresql", "mysql", "sqlite"]),
            default=None,
            help="Dialect the scripts target [default: the app's engine, else all].",
        ),
        click.option(
            "--since",
            metavar="REV",
            help="Only revisions after REV (a revision, or a git ref: the scripts it lacks).",
        ),
        click.option(
            "--releases",
            type=click.Choice(["off", "git-tags"]),
            default=None,
            help="Which revisions shipped together: git-tags (the earliest tag holding each"
            " script); a table an earlier revision of the same release created is new"
            " [default: releases in [tool.safemigrate.lint], else off].",
        ),
        click.option(
            "--report-unused-ignores",
            is_flag=True,
            default=None,
            help="Report suppression comments that silence nothing.",
        ),
        click.option(
            "--baseline",
            metavar="FILE",
            type=click.Path(path_type=Path, dir_okay=False),
            help="Report only findings that FILE does not record [default: baseline in"
            " [tool.safemigrate.lint]].",
        ),
        click.option(
            "--write-baseline",
            metavar="FILE",
            type=click.Path(path_type=Path, dir_okay=False),
            help="Record every finding in FILE (to adopt lint on an existing history) and exit 0.",
        ),
        click.option("--explain", metavar="RULE", help="Describe a rule and exit."),
        click.option(
            "--no-cache",
            is_flag=True,
            help="Lint every script again instead of reusing the results of unchanged ones"
            " (kept in the user's cache folder).",
        ),
        format_option("text", "json", "github", "sarif", "markdown"),
    ]
    decorated: Any = bundled
    for option in reversed(options):
        decorated = option(decorated)
    return cast("Callable[..., R]", decorated)


def lint_cli_options(args: LintArgs) -> dict[str, Any]:
    """The options given on the command line, as :func:`.lint.options.resolve` reads them."""
    if args.baseline is not None and args.write_baseline is not None:
        raise ConfigError(
            "--baseline and --write-baseline cannot be used together",
            hint="--write-baseline FILE records every finding; --baseline FILE reports new ones",
        )
    return {
        "select": _split(args.select),
        "ignore": _split(args.ignore),
        "fail-on": args.fail_on,
        "dialect": args.dialect,
        "report-unused-ignores": args.report_unused_ignores,
        "baseline": args.baseline,
        "releases": args.releases,
    }


def explain_rule(rule_name: str) -> None:
    from flask_safemigrate.lint.model import rule_docs
    from flask_safemigrate.lint.registry import all_rules, get_rule

    rule = get_rule(rule_name)
    if rule is None:
        # docs/rules.md is in the repository, not in an installed package: suggest a name.
        names = [r.name for r in all_rules()]
        close = difflib.get_close_matches(rule_name.lower(), names, n=3)
        hint = (
            f"did you mean {' or '.join(close)}?"
            if close
            else "use a rule name such as drop-column or a code such as SM102 (SM1xx destructive,"
            " SM2xx locking, SM3xx correctness, SM4xx conventions, SM5xx history)"
        )
        raise ConfigError(f"unknown lint rule {rule_name!r}", hint=hint)
    click.echo(f"{rule.code} {rule.name} ({rule.severity})\n\n{rule_docs(rule)}")


def echo_lint(
    result: Result, output_format: str, lint: suggested.LintCommand | None = None
) -> NoReturn:
    """Render a lint result in the chosen format and exit with its code.

    A ``--write-baseline`` run says what it recorded instead, and the line that lints with it
    (``lint``: the command as the user ran it): stdout carries only the chosen machine
    format, which a written baseline has none of.
    """
    from flask_safemigrate.lint.command import WRITTEN
    from flask_safemigrate.lint.docs import rule_infos
    from flask_safemigrate.render import render_github, render_sarif

    report = result.report
    written = report.facts.get(WRITTEN)
    if written is not None:
        path: Path = written["file"]
        again = (lint or suggested.LintCommand()).line(f"--baseline {shlex.quote(str(path))}")
        click.echo(
            f"Recorded {plural(written['findings'], 'finding')}"
            f" ({plural(written['files'], 'file')}) in {path}."
            f" Commit it; `{again}` (or baseline ="
            f' "{path.as_posix()}" in [tool.safemigrate.lint] of pyproject.toml)'
            " then reports only new findings.",
            err=output_format != "text",
        )
    elif output_format == "github":
        text = render_github(report)
        if text:
            click.echo(text)
    elif output_format == "sarif":
        click.echo(render_sarif(report, rule_infos()))
    elif output_format == "json":
        click.echo(render_json(report))
    elif output_format == "markdown":
        from flask_safemigrate.render.markdown import render_lint_markdown

        command = (lint or suggested.LintCommand()).line("")
        click.echo(render_lint_markdown(report, again=f"`{command.strip()}`"))
    else:
        color = should_color(sys.stdout)
        click.echo(render_lint_text(report, color=color), color=color)
    exit_with(result.exit_code)


@contextlib.contextmanager
def lint_advice(lint: suggested.LintCommand) -> Iterator[None]:
    """A usage error's advice to lint again (`flask db lint --write-baseline FILE`, as the
    code below words it) names the lint command the user ran, with its paths."""
    try:
        yield
    except SafeMigrateError as error:
        if error.hint is not None:
            error.hint = lint.text(error.hint)
        raise


@contextlib.contextmanager
def stdout_to_stderr() -> Iterator[None]:
    """Send everything written to stdout to stderr for as long as the block lasts.

    Used while stdout must carry one document (the JSON report, the SQL of ``--sql``):
    Alembic prints status lines with ``print``-like writes, and post-write hooks such as
    ``ruff format`` run as subprocesses that report on file descriptor 1. Both the Python
    stream and descriptor 1 are pointed at stderr, then restored.
    """
    sys.stdout.flush()
    saved: int | None = None
    with contextlib.suppress(OSError):  # no real descriptors (embedded): Python-level only
        duplicate = os.dup(1)
        try:
            os.dup2(2, 1)
            saved = duplicate
        except OSError:
            os.close(duplicate)
    try:
        with contextlib.redirect_stdout(sys.stderr):
            yield
    finally:
        sys.stderr.flush()
        if saved is not None:
            os.dup2(saved, 1)
            os.close(saved)


@contextlib.contextmanager
def quiet_alembic() -> Iterator[None]:
    """Hide INFO logging while a command runs (restored afterwards; warnings still show).

    The stock ``env.py`` configures logging from ``alembic.ini`` on every command, which
    would print three "Context impl ..." lines per roundtrip step, and Alembic's comparison
    logs a line per table on PostgreSQL. ``logging.disable`` is process-wide, which is why
    only the commands (which own the process) apply it: the library never changes logging.
    """
    previous = logging.root.manager.disable
    logging.disable(max(previous, logging.INFO))
    try:
        yield
    finally:
        logging.disable(previous)


#: A command's ``-d`` help (ours, and Flask-Migrate's in an app's ``flask db``).
DIRECTORY_HELP = (
    "Migration script directory [default: `flask db -d DIR`, else the app's:"
    ' SafeMigrate(directory=...), or "migrations"].'
)


def directory_option(command: Callable[..., Any]) -> Callable[..., Any]:
    """``-d/--directory``, as every Flask-Migrate command has it (and ``flask db -d``)."""
    option = click.option("-d", "--directory", default=None, help=DIRECTORY_HELP)
    return option(command)


def x_arg_option(command: Callable[..., Any]) -> Callable[..., Any]:
    """``-x/--x-arg``, as ``flask db upgrade`` has it (and ``flask db -x``)."""
    option = click.option(
        "-x",
        "--x-arg",
        "x_arg",
        multiple=True,
        help="Additional arguments consumed by custom env.py scripts (context.get_x_argument()).",
    )
    return option(command)


def command_directory(given: str | None) -> Path:
    """The migrations directory a command works on: its ``-d``, else the group's
    ``flask db -d`` (``g.directory``, which :class:`DbGroup` defaults to the app's), else
    the app's. The library function refuses one that does not exist (with its JSON shape).

    Flask is imported here, not at the top: ``safemigrate lint`` shares this module and
    must start without Flask (pre-commit runs it on every commit)."""
    from flask import current_app, g

    if given is None:
        given = getattr(g, "directory", None)
    if given is None:
        given = str(current_app.extensions["safemigrate"].migrations_directory())
    return Path(given)


def suggesting(directory: Path) -> str:
    """How the commands a report suggests start when the command works on ``directory``:
    ``flask db``, or ``flask db -d DIR`` when it is not the app's (as a run's ``Setup``)."""
    from flask import current_app

    default = current_app.extensions["safemigrate"].migrations_directory()
    return suggested.command_prefix(directory, default)


def x_args(given: tuple[str, ...] = ()) -> tuple[str, ...]:
    """``flask db -x A cmd -x B``: the group's then the command's, as Flask-Migrate's config
    collects them (it reads ``g.x_arg``, which a run in its own app context no longer sees)."""
    from flask import g

    return tuple(getattr(g, "x_arg", None) or ()) + tuple(given)
