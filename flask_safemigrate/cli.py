"""Click commands only: parse options, call one function, render its report, exit.

Everything below this module returns data or raises a :class:`SafeMigrateError`; this is
the one place that prints and chooses the exit status.
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click
import flask_migrate.cli
from flask import Flask, current_app
from flask.cli import with_appcontext

from flask_safemigrate import cli_support, database, history
from flask_safemigrate.caches import user_cache
from flask_safemigrate.cli_fleet import (
    fleet_status_command,
    verify_fleet_options,
)
from flask_safemigrate.cli_graph import graph_command
from flask_safemigrate.cli_ledger import ledger_group
from flask_safemigrate.cli_snapshot import snapshot_command
from flask_safemigrate.cli_support import (
    LintArgs,
    echo_lint,
    echo_result,
    explain_rule,
    fail,
    format_option,
    handles_errors,
    lint_cli_options,
    lint_options,
    stdout_to_stderr,
)
from flask_safemigrate.cli_upgrade import safe_upgrade_command
from flask_safemigrate.cli_usage import JsonUsageCommand
from flask_safemigrate.errors import ConfigError, SafeMigrateError
from flask_safemigrate.pending import pending_revisions
from flask_safemigrate.project import MISSING_DIRECTORY_HINT
from flask_safemigrate.settings import Settings
from flask_safemigrate.suggested import LintCommand
from flask_safemigrate.text import placed

__all__ = [
    "COMMANDS",
    "CommandTable",
    "DbGroup",
    "fail",
    "format_option",
    "handles_errors",
    "install_group",
]

#: Commands SafeMigrate adds to ``flask db``; each module that defines one registers it here.
COMMANDS: dict[str, click.Command] = {}


#: ``flask db -d``'s help: Flask-Migrate's says the default is always ``migrations``.
GROUP_DIRECTORY_HELP = (
    "Migration script directory, for every command [default: the app's:"
    ' SafeMigrate(directory=...), or "migrations"].'
)


def _described(param: click.Parameter, text: str) -> click.Parameter:
    """``param``, or a copy of Flask-Migrate's ``-d`` option with ``text`` as its help (the
    shared group and its commands keep theirs)."""
    if param.name != "directory" or not isinstance(param, click.Option):
        return param
    described = copy.copy(param)
    described.help = text
    return described


class DbGroup(click.Group):
    """One app's ``flask db``: Flask-Migrate's commands plus ours.

    It delegates to Flask-Migrate's module-level group instead of copying or mutating it, so
    commands that other extensions add there still show up, and two apps in one process each
    get their own group.
    """

    def __init__(self, name: str) -> None:
        base = flask_migrate.cli.db
        super().__init__(
            name=name,
            commands=dict(COMMANDS),
            params=[_described(param, GROUP_DIRECTORY_HELP) for param in base.params],
            callback=self._defaults_directory(base.callback),
            help=base.help,
        )

    @staticmethod
    def _defaults_directory(base: Callable[..., Any] | None) -> Callable[..., Any]:
        """Flask-Migrate's group callback (``g.directory``, ``g.x_arg``), with the app's own
        migrations directory as the default ``-d``.

        Flask-Migrate's commands fall back to their ``Migrate`` object's directory, which a
        later ``Migrate(app, db)`` (or another app sharing that object) may have changed;
        the app's record (``app.extensions["migrate"].directory``, kept by SafeMigrate) is
        the directory this app configured.
        """
        assert base is not None

        @with_appcontext
        def callback(**params: Any) -> Any:
            if params.get("directory") is None:
                state = current_app.extensions.get("migrate")
                params["directory"] = state.directory if state is not None else None
            return base(**params)

        return callback

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(set(flask_migrate.cli.db.list_commands(ctx)) | set(self.commands))

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        command = self.commands.get(cmd_name)
        if command is not None:
            return command
        found: click.Command | None = flask_migrate.cli.db.get_command(ctx, cmd_name)
        if found is None:
            return None
        command = found
        if any(param.name == "directory" for param in command.params):
            # Flask-Migrate's `-d` help says "(default is "migrations")"; here it is the app's.
            command = copy.copy(command)
            command.params = [_described(p, cli_support.DIRECTORY_HELP) for p in command.params]
        if cmd_name in {"migrate", "revision"}:
            return self._checks_message(command)
        return command

    @staticmethod
    def _checks_message(command: click.Command) -> click.Command:
        """Flask-Migrate's command, refusing a vague ``-m`` (exit 2) before Alembic writes.

        Checked here because Flask-Migrate's ``catch_errors`` turns anything raised later
        into exit 1 and a log line.
        """

        original = command.callback
        assert original is not None

        @with_appcontext
        def callback(*args: Any, **kwargs: Any) -> Any:
            from flask_safemigrate import autogen

            app = current_app._get_current_object()  # type: ignore[attr-defined]
            settings = _before_writing(
                app,
                autogenerate=command.name == "migrate" or bool(kwargs.get("autogenerate")),
                message=kwargs.get("message"),
                directory=kwargs.get("directory"),
            )
            locations = _script_locations(kwargs.get("directory"), kwargs.get("version_path"))
            before = autogen.script_files(locations)
            result = original(*args, **kwargs)
            # `revision` writes a script to fill by hand: it imports guards, so a guard
            # written into it runs (without the idempotent setting, only when the template
            # calls one). `migrate` imports them where it rendered one, or the template did.
            by_hand = command.name == "revision" and settings.idempotent
            written = sorted(autogen.script_files(locations) - before)
            for path in written:
                autogen.add_guards_import(path, only_when_used=not by_hand)
            if written and (command.name == "migrate" or kwargs.get("autogenerate")):
                _refresh_snapshot(app, kwargs.get("directory"))
            return result

        wrapped = copy.copy(command)
        wrapped.callback = callback
        return wrapped


class CommandTable(dict[str, click.Command]):
    """``app.cli.commands`` that swaps Flask-Migrate's shared group for this app's own.

    ``Migrate.init_app`` adds its module-level ``db`` group to ``app.cli``. Adding our commands
    to that group would leak them (and our settings) into every app in the process, and a
    ``Migrate(app, db)`` that runs after ``SafeMigrate`` would drop ours. So wherever that
    group is registered on this app, a per-app group that delegates to it goes instead.
    """

    def __init__(self, on_migrate: Callable[[], None] | None = None) -> None:
        super().__init__()
        #: Called when a ``Migrate.init_app`` registers its group (it just replaced the
        #: app's ``app.extensions["migrate"]``): the extension restores what it must keep.
        self.on_migrate = on_migrate

    def __setitem__(self, name: str, command: click.Command) -> None:
        if command is flask_migrate.cli.db:
            command = DbGroup(name)
            if self.on_migrate is not None:
                self.on_migrate()
        super().__setitem__(name, command)


def install_group(app: Flask, on_migrate: Callable[[], None] | None = None) -> None:
    """Give ``app`` its own ``flask db`` (:class:`CommandTable`); called by ``init_app``.

    ``on_migrate`` runs whenever a later ``Migrate(app, db)`` registers itself.
    """
    if isinstance(app.cli.commands, CommandTable):
        app.cli.commands.on_migrate = on_migrate
        return
    table = CommandTable(on_migrate)
    for name, cmd in app.cli.commands.items():
        table[name] = cmd  # substitutes the group Migrate.init_app registered
    app.cli.commands = table


def _refresh_snapshot(app: Flask, directory: str | None) -> None:
    """The models snapshot, written again after an autogenerated revision (a failure to
    write it is one line and exit 2: the revision stays, `flask db snapshot` retries)."""
    from flask_safemigrate import models_snapshot

    try:
        models_snapshot.take(app, cli_support.command_directory(directory))
    except SafeMigrateError as error:
        fail(error)


@cli_support.handles_errors
def _before_writing(
    app: Flask, *, autogenerate: bool, message: str | None, directory: str | None
) -> Settings:
    """What ``migrate``/``revision`` refuse before Alembic writes anything: a vague or
    unwritable ``-m``, a missing migrations directory (Flask-Migrate would say "Path doesn't
    exist" and exit 1, without the ``-d`` to ``init``), and for autogenerate a database that
    does not answer (one line, not a traceback). The app's settings when all is well."""
    from flask_safemigrate import autogen

    settings: Settings = app.extensions["safemigrate"].get_settings(app)
    autogen.install(app)  # again: a later Migrate(app, db) replaces its config
    autogen.check_writable(message)
    if settings.require_message:
        autogen.check_message(message)
    migrations = _existing_directory(directory)
    if autogenerate:
        autogen.require_reachable(app, migrations)
    return settings


def _existing_directory(directory: str | None) -> Path:
    """The command's migrations directory; a missing one is a usage error (exit 2) whose
    help names the ``-d`` to ``init``, as every command of ours says it."""
    migrations = cli_support.command_directory(directory)
    if not migrations.is_dir():
        raise ConfigError(
            f"no migrations directory at {placed(migrations)}", hint=MISSING_DIRECTORY_HINT
        )
    return migrations


def _script_locations(directory: str | None, version_path: str | None) -> list[Path]:
    """Where ``flask db revision``/``migrate`` may write a script: the version locations of
    the migrations directory they use, and their ``--version-path``."""
    found = [Path(version_path)] if version_path else []
    with contextlib.suppress(ValueError, OSError):  # Flask-Migrate's command reports it
        found += history.version_locations(cli_support.command_directory(directory))
    return found


@click.command("lint", cls=JsonUsageCommand)
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
@click.option(
    "--pending", is_flag=True, help="Only revisions not yet applied to the app's database."
)
@cli_support.directory_option
@lint_options
@handles_errors
@with_appcontext
def lint_command(
    paths: tuple[Path, ...],
    pending: bool,
    directory: str | None,
    args: LintArgs,
    output_format: str,
) -> None:
    """Check migration scripts for data loss, locks and non-idempotent steps."""
    from flask_safemigrate.lint import options
    from flask_safemigrate.lint.command import lint_command, since_revisions
    from flask_safemigrate.lint.mapped import mapped_columns

    if args.explain:
        explain_rule(args.explain)
        return
    settings = current_app.extensions["safemigrate"].get_settings()
    migrations = _existing_directory(directory)
    prefix = cli_support.suggesting(migrations)
    again = LintCommand.of(f"{prefix} lint", paths)  # what advice to lint again names
    with cli_support.lint_advice(again):
        targets = list(paths) or [migrations]
        db = current_app.extensions["migrate"].db
        config = options.resolve(
            lint_cli_options(args),
            settings=settings,
            search_from=migrations,
            app_dialect=database.dialect_of(db.engine.url),
        )
        config = dataclasses.replace(config, mapped=mapped_columns(db))
        only: set[str] | None = None
        locations = history.version_locations(migrations)
        if args.since:
            only = since_revisions(locations, args.since)
        if pending:
            app = current_app._get_current_object()  # type: ignore[attr-defined]
            unapplied = pending_revisions(app, settings, locations)
            only = unapplied if only is None else only & unapplied
        result = lint_command(
            targets,
            config,
            only_revisions=only,
            write_baseline=args.write_baseline,
            cache_dir=None if args.no_cache else user_cache(),
            command=prefix,
            lint=again,
        )
    echo_lint(result, output_format, again)


COMMANDS[lint_command.name or "lint"] = lint_command


# --- safe-upgrade (cli_upgrade.py) --------------------------------------------------------

COMMANDS["safe-upgrade"] = safe_upgrade_command


# --- verify -------------------------------------------------------------------------------


@click.command("verify", cls=JsonUsageCommand)
@cli_support.directory_option
@click.option(
    "--no-db", is_flag=True, help="Only the static checks: do not read the app's database."
)
@click.option(
    "--roundtrip",
    is_flag=True,
    help="Upgrade, downgrade and re-upgrade every revision on a scratch database.",
)
@click.option(
    "--scratch-url",
    metavar="URL",
    help="An empty database for --roundtrip [default: a temporary one, dropped after].",
)
@click.option(
    "--rows",
    metavar="FILE",
    type=click.Path(path_type=Path),
    help="With --roundtrip: a Python file whose ROWS ({revision: {table: [row, ...]}}) are"
    " inserted before each revision and must be there after its upgrade and its downgrade.",
)
@click.option(
    "--compat-with",
    metavar="REF",
    help="The previous release: a git ref (its models.snapshot.json) or a snapshot file;"
    " report what of the migrations would break it (breaks-previous-release).",
)
@format_option("text", "json", "markdown")
@handles_errors
@with_appcontext
@verify_fleet_options
def verify_command(
    directory: str | None,
    no_db: bool,
    roundtrip: bool,
    scratch_url: str | None,
    rows: Path | None,
    compat_with: str | None,
    output_format: str,
) -> None:
    """Check the history, the database against it, schema drift and the ledger."""
    from flask_safemigrate import verify

    if scratch_url is not None and not (roundtrip or compat_with):
        raise ConfigError("--scratch-url needs --roundtrip or --compat-with")
    if rows is not None and not roundtrip:
        raise ConfigError("--rows needs --roundtrip")
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    with cli_support.quiet_alembic():
        result = verify.verify(
            app,
            use_db=not no_db,
            roundtrip=roundtrip,
            scratch_url=scratch_url,
            directory=cli_support.command_directory(directory),
            x_args=cli_support.x_args(),
            rows=rows,
            compat_with=compat_with,
        )
    echo_result(result, output_format)


COMMANDS["verify"] = verify_command


# --- auto-merge-heads ---------------------------------------------------------------------


@click.command("auto-merge-heads", cls=JsonUsageCommand)
@cli_support.directory_option
@click.option(
    "-m", "--message", default=None, help="Message of the merge revision [default: the heads]."
)
@click.option("--check", is_flag=True, help="Only report; exit 1 when there are several heads.")
@click.option("--force", is_flag=True, help="Write the merge even when the branches conflict.")
@format_option("text", "json")
@handles_errors
@with_appcontext
def auto_merge_heads_command(
    directory: str | None, message: str | None, check: bool, force: bool, output_format: str
) -> None:
    """Join several heads into one merge revision, refusing when the branches conflict."""
    from flask_safemigrate import merge

    app = current_app._get_current_object()  # type: ignore[attr-defined]
    settings = app.extensions["safemigrate"].get_settings(app)  # a bad key is exit 2 here too
    if message is not None and settings.require_message:
        from flask_safemigrate.autogen import check_message

        check_message(message)  # as `migrate` and `revision` refuse "fix" or "wip"
    migrations = cli_support.command_directory(directory)
    with stdout_to_stderr():  # Alembic's and the post-write hooks' lines: never in the report
        result = merge.auto_merge_heads(
            app,
            message=message,
            check=check,
            force=force,
            directory=migrations,
            x_args=cli_support.x_args(),
            command=cli_support.suggesting(migrations),
        )
    echo_result(result, output_format)


COMMANDS["auto-merge-heads"] = auto_merge_heads_command


# --- ledger -------------------------------------------------------------------------------


COMMANDS["ledger"] = ledger_group
COMMANDS["snapshot"] = snapshot_command
COMMANDS["graph"] = graph_command
COMMANDS["fleet-status"] = fleet_status_command
