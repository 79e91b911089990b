"""``flask db safe-upgrade``: parse its options, run :func:`flask_safemigrate.upgrade.safe_upgrade`,
render its report (text, JSON, the Markdown plan, or only SQL on stdout with ``--sql``), exit.

A module of its own, as the ledger's and the snapshot's commands are: the command is the
longest of ``flask db``'s, and ``cli.py`` registers it with one line.
"""

from __future__ import annotations

import re
import sys
from contextlib import nullcontext
from typing import TYPE_CHECKING

import click
from flask import current_app
from flask.cli import with_appcontext

from flask_safemigrate import cli_support, database
from flask_safemigrate.cli_fleet import fleet_options
from flask_safemigrate.cli_support import (
    exit_with,
    format_option,
    handles_errors,
    stdout_to_stderr,
)
from flask_safemigrate.cli_usage import JsonUsageCommand
from flask_safemigrate.errors import ConfigError, ExitCode
from flask_safemigrate.render import render_finding, render_json, should_color
from flask_safemigrate.safe_text import printable

if TYPE_CHECKING:
    from flask_safemigrate.render.progress import ProgressPrinter

__all__ = ["safe_upgrade_command"]


def _progress_printer(err: bool) -> ProgressPrinter:
    """safe-upgrade's progress as lines: stdout for text, stderr when stdout carries JSON.

    The text report shows pre-flight's findings as soon as pre-flight passes (the JSON
    report has them in ``problems``)."""
    from flask_safemigrate.render.progress import ProgressPrinter

    return ProgressPrinter(
        lambda text, nl: click.echo(text, nl=nl, err=err),
        findings=not err,
        color=not err and should_color(sys.stdout),
    )


_STEPS_BACK = re.compile(r"-\d+")


class _RevisionCommand(JsonUsageCommand):
    """A command whose REVISION may be ``-1``: click would read it as an unknown option.

    A step count back (``-1``, ``-3``) given before ``--`` is moved behind one, so that it
    reaches REVISION and the command's own one-line refusal ("only goes forward", exit 2),
    as docs/commands/safe-upgrade.md promises, instead of click's "No such option".
    """

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        takes_value = {
            name
            for param in self.params
            if isinstance(param, click.Option) and not param.is_flag and not param.count
            for name in (*param.opts, *param.secondary_opts)
        }
        kept: list[str] = []
        back: list[str] = []
        for index, arg in enumerate(args):
            if arg == "--":
                kept += args[index:]
                break
            previous = args[index - 1] if index else ""
            if _STEPS_BACK.fullmatch(arg) and previous not in takes_value:
                back.append(arg)
            else:
                kept.append(arg)
        if back:
            kept = [*kept, "--", *back] if "--" not in kept else kept + back
        return super().parse_args(ctx, kept)


@click.command("safe-upgrade", cls=_RevisionCommand)
@click.argument("revision", default="heads")
@cli_support.directory_option
@click.option(
    "--dry-run", is_flag=True, help="Run the pre-flight checks, print the plan, change nothing."
)
@click.option(
    "--sql", is_flag=True, help="Print the SQL of the plan (offline mode); change nothing."
)
@click.option(
    "--tag",
    default=None,
    help='Arbitrary "tag" name - can be used by custom env.py scripts'
    " (context.get_tag_argument()).",
)
@cli_support.x_arg_option
@click.option(
    "--backup/--no-backup",
    default=None,
    help="Back up the database first [default: SAFEMIGRATE_BACKUP, else on for SQLite only].",
)
@click.option("--auto-merge", is_flag=True, help="Merge several heads first (auto-merge-heads).")
@click.option(
    "--skip-lint", is_flag=True, help="Apply even when lint finds errors in pending scripts."
)
@click.option("--no-verify", is_flag=True, help="Skip the post-upgrade verification.")
@click.option(
    "--allow-breaking", is_flag=True, help="Deploy even if the running release would break."
)
@click.option(
    "--resolved",
    metavar="REV",
    multiple=True,
    help="Record that the failed attempt of REV (an id or unique prefix) was repaired, then go on.",
)
@format_option("text", "json", "markdown")
@handles_errors
@with_appcontext
@fleet_options
def safe_upgrade_command(
    revision: str,
    directory: str | None,
    dry_run: bool,
    sql: bool,
    tag: str | None,
    x_arg: tuple[str, ...],
    backup: bool | None,
    auto_merge: bool,
    skip_lint: bool,
    no_verify: bool,
    allow_breaking: bool,
    resolved: tuple[str, ...],
    output_format: str,
) -> None:
    """Upgrade with pre-flight checks, a migration lock, a backup and verification.

    REVISION, -d, -x, --tag and --sql mean what they mean to `flask db upgrade`: REVISION
    is what Alembic accepts (heads, head, an id or prefix, branch@head, +1, REV+2;
    START:END with --sql, which then never connects to the database).
    """
    # The upgrade machinery is imported here, not with the module: `SafeMigrate(app, db)`
    # imports this module to register `flask db`, in every process the app starts in (a web
    # worker, a job), and those never run safe-upgrade (about 0.2 s of imports each).
    from flask_safemigrate import cli_interrupt, telemetry, upgrade
    from flask_safemigrate.render.progress import (
        JsonLogPrinter,
        LintLinesPrinter,
        ProgressPrinter,
    )

    if sql and dry_run:
        raise ConfigError("--sql and --dry-run do not go together: --sql changes nothing either")
    document = output_format in ("json", "markdown")  # stdout carries one document
    cli_support.check_markdown_plan(output_format, dry_run)
    options = upgrade.Options(
        revision=revision,
        dry_run=dry_run,
        sql=sql,
        backup=backup,
        auto_merge=auto_merge,
        skip_lint=skip_lint,
        verify=not no_verify,
        resolved=resolved,
        allow_breaking=allow_breaking,
        directory=cli_support.command_directory(directory),
        x_args=cli_support.x_args(x_arg),
        tag=tag,
        plan_details=output_format == "markdown",
    )
    quiet = sql and output_format == "text"
    progress: upgrade.Progress
    if (
        cli_support.json_log_active() is not None
    ):  # --log-format json: one record per event, heartbeats too
        progress = JsonLogPrinter(lambda text, nl: click.echo(text, nl=nl, err=True))
    else:
        progress = (
            LintLinesPrinter(lambda text, nl: click.echo(text, nl=nl, err=True))
            if quiet
            else _progress_printer(err=document)
        )
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    # With --auto-merge, Alembic and post-write hooks may print while the merge is written:
    # kept off stdout when it carries a document (the JSON report, the SQL of --sql).
    streams = stdout_to_stderr() if quiet or document else nullcontext()
    try:
        with (
            streams,
            cli_support.quiet_alembic(),
            cli_interrupt.sigterm_interrupts(),
            telemetry.recording(progress) as observed,  # spans and metrics (extra otel)
        ):
            result = upgrade.safe_upgrade(app, options, observed)
    except upgrade.RunConfigError as error:
        if output_format != "json":
            raise  # one `Error:` line, from handles_errors
        click.echo(render_json(error.report))
        if (log := cli_support.json_log_active()) is not None:  # as fail() records it
            log.record("error", "error", cli_support.error_record(error))
        exit_with(ExitCode.USAGE)
    except KeyboardInterrupt as stop:
        engines = app.extensions["migrate"].db.engines.values()
        cli_interrupt.report_interrupted(
            progress, {database.dialect_of(e.url) for e in engines}, output_format == "json", stop
        )
    report = result.report
    cli_support.log_outcome(report)
    if output_format == "json":
        click.echo(render_json(report))
    elif output_format == "markdown":
        cli_support.echo_markdown_plan(report, cli_support.command_directory(directory))
    elif quiet and result.ok:
        for finding in report.findings:  # stdout is the SQL: what to know goes to stderr
            click.echo("\n".join(render_finding(finding, color=False)), err=True)
        click.echo(report.facts.get("sql") or "", nl=False)
    else:
        # With --sql, stdout holds only SQL: a run that wrote none reports on stderr.
        stream = sys.stderr if quiet else sys.stdout
        color = should_color(stream)
        lines = [printable(note) for note in report.notes]
        shown = progress.shown if isinstance(progress, ProgressPrinter) else set()
        for finding in report.findings:
            if id(finding) not in shown:  # pre-flight's, shown before the lock already
                lines.extend(render_finding(finding, color=color))
        lines.append(printable(str(report.facts["summary"])))
        click.echo("\n".join(lines), color=color, err=quiet)
    exit_with(result.exit_code)
