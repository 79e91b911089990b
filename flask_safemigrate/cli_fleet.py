"""The fleet's CLI edge: ``safe-upgrade --fleet`` options and ``flask db fleet-status``.

:func:`fleet_options` decorates ``safe-upgrade`` (one line in ``cli.py``). Without
``--fleet`` the command runs as ever. With ``--fleet`` this process becomes the fleet's
parent (:func:`flask_safemigrate.fleet.run_fleet`), which starts one child per target:
the same ``flask --app APP db safe-upgrade``, with the hidden ``--fleet-target KEY``, which
pins the target (:func:`flask_safemigrate.fleet.pin_key`) and then runs the command's own
body, so each target's run is the normal pipeline and report.
"""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Callable, Mapping
from typing import Any

import click
from flask import current_app
from flask.cli import ScriptInfo, with_appcontext

from flask_safemigrate import cli_support, fleet
from flask_safemigrate.cli_support import exit_with, format_option, handles_errors
from flask_safemigrate.cli_usage import JsonUsageCommand
from flask_safemigrate.errors import ConfigError
from flask_safemigrate.render import render_json
from flask_safemigrate.render.fleet import FleetJsonLogPrinter, FleetPrinter, status_lines

__all__ = ["fleet_options", "fleet_status_command", "verify_fleet_options"]

#: safe-upgrade's options a fleet refuses: each changes something once, not per target.
_NOT_WITH_FLEET = {
    "sql": "--sql",
    "auto_merge": "--auto-merge",
    "resolved": "--resolved",
    "dry_run": "--dry-run",
}


def _parallel_option(command: Callable[..., Any]) -> Callable[..., Any]:
    """``--parallel``, as both fleet commands take it."""
    return click.option(
        "--parallel",
        type=click.IntRange(min=1),
        default=1,
        show_default=True,
        help="With --fleet: targets at once (processes), capped by SAFEMIGRATE_FLEET_CONNECTIONS.",
    )(command)


#: The child's side: which target this run is (by key, never by URL); hidden.
_fleet_target_option = click.option("--fleet-target", hidden=True, default=None)


def _pinned(app: Any, fleet_target: str | None) -> bool:
    """A fleet's child process: aim the app at its target; whether it is one."""
    if fleet_target is None:
        return False
    from flask_safemigrate.fleet import pin_key

    pin_key(app, fleet_target)
    return True


def _without_fleet(given: Mapping[str, bool]) -> None:
    """Options given without ``--fleet`` that only mean something with it: one error."""
    names = [name for name, used in given.items() if used]
    if names:
        raise ConfigError(f"{', '.join(names)} need(s) --fleet")


def _refuse(options: Mapping[str, Any], refused: Mapping[str, str]) -> None:
    """The command's options a fleet refuses (each about one database): one error."""
    for key, name in refused.items():
        if options.get(key):
            raise ConfigError(
                f"{name} does not go with --fleet", hint=f"run {name} without --fleet"
            )


def fleet_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """Add ``--fleet``, ``--parallel``, ``--on-error``, ``--canary``, ``--shard`` (and the
    hidden ``--fleet-target``) to safe-upgrade; see the module docstring."""

    @click.option("--fleet", is_flag=True, help="Upgrade every target of SAFEMIGRATE_TARGETS.")
    @_parallel_option
    @click.option(
        "--on-error",
        type=click.Choice(("continue", "stop")),
        default="continue",
        show_default=True,
        help="With --fleet: after a failed target, go on with the others or start no more.",
    )
    @click.option(
        "--canary",
        type=click.IntRange(min=0),
        default=0,
        show_default=True,
        help="With --fleet: upgrade the first N targets one by one first; stop at a failure.",
    )
    @click.option(
        "--shard",
        metavar="I/N|auto",
        default=None,
        help="With --fleet: only shard I of N (0-based; auto: Kubernetes JOB_COMPLETION_INDEX"
        " of JOB_COMPLETIONS).",
    )
    @_fleet_target_option
    @functools.wraps(command)
    def wrapper(
        *args: Any,
        fleet: bool,
        parallel: int,
        on_error: str,
        canary: int,
        shard: str | None,
        fleet_target: str | None,
        **kwargs: Any,
    ) -> Any:
        app = current_app._get_current_object()  # type: ignore[attr-defined]
        if _pinned(app, fleet_target):
            return command(*args, **kwargs)
        if not fleet:
            _without_fleet(
                {
                    "--parallel": parallel != 1,
                    "--on-error": on_error != "continue",
                    "--canary": canary != 0,
                    "--shard": shard is not None,
                }
            )
            return command(*args, **kwargs)
        _run_fleet(app, kwargs, parallel, on_error, canary, shard)
        return None

    return wrapper


#: verify's options a fleet refuses: each needs a scratch database or a file per run.
_NOT_WITH_VERIFY_FLEET = {
    "roundtrip": "--roundtrip",
    "scratch_url": "--scratch-url",
    "rows": "--rows",
    "compat_with": "--compat-with",
}


def verify_fleet_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """``verify --fleet [--parallel N] [--shard I/N|auto]``: ``flask db verify`` on every
    target, one child process each (read only: nothing is recorded in the fleet table)."""

    @click.option(
        "--fleet", "fleet_flag", is_flag=True, help="Verify every target of SAFEMIGRATE_TARGETS."
    )
    @_parallel_option
    @click.option("--shard", metavar="I/N|auto", default=None, help="With --fleet: shard I of N.")
    @_fleet_target_option
    @functools.wraps(command)
    def wrapper(
        *args: Any,
        fleet_flag: bool,
        parallel: int,
        shard: str | None,
        fleet_target: str | None,
        **kw: Any,
    ) -> Any:
        app = current_app._get_current_object()  # type: ignore[attr-defined]
        if _pinned(app, fleet_target):
            return command(*args, **kw)
        if not fleet_flag:
            _without_fleet({"--parallel": parallel != 1, "--shard": shard is not None})
            return command(*args, **kw)
        _refuse(kw, _NOT_WITH_VERIFY_FLEET)
        child = ["-d", str(cli_support.command_directory(kw.get("directory")))]
        if kw.get("no_db"):
            child.append("--no-db")
        _run(
            app,
            fleet.FleetOptions(
                launcher=_launcher,
                command="verify",
                child_args=tuple(child),
                parallel=parallel,
                shard=fleet.parse_shard(shard, os.environ),
                directory=cli_support.command_directory(kw.get("directory")),
            ),
            kw.get("output_format", "text"),
        )
        return None

    return wrapper


def _launcher() -> tuple[str, ...]:
    """How a child reaches this app's ``flask db``: ``python -m flask [--app APP] db``."""
    info = click.get_current_context().find_object(ScriptInfo)
    app_path = info.app_import_path if info is not None else None
    if info is not None and app_path is None and info.create_app is not None:
        raise ConfigError(
            "--fleet starts `python -m flask db safe-upgrade` per target, but this app comes"
            " from a custom FlaskGroup(create_app=...)",
            hint="run the fleet as `flask --app yourpackage:create_app db safe-upgrade --fleet`",
        )
    group = click.get_current_context().parent
    name = group.info_name if group is not None and group.info_name else "db"
    return (sys.executable, "-m", "flask", *(("--app", app_path) if app_path else ()), name)


def _child_args(options: dict[str, Any]) -> tuple[str, ...]:
    args = ["-d", str(cli_support.command_directory(options.get("directory")))]
    for value in cli_support.x_args(options.get("x_arg") or ()):
        args += ["-x", value]
    if options.get("tag"):
        args += ["--tag", options["tag"]]
    if options.get("backup") is not None:
        args.append("--backup" if options["backup"] else "--no-backup")
    for flag, name in (
        ("skip_lint", "--skip-lint"),
        ("no_verify", "--no-verify"),
    ):
        if options.get(flag):
            args.append(name)
    return tuple(args)


def _run_fleet(
    app: Any,
    options: dict[str, Any],
    parallel: int,
    on_error: str,
    canary: int,
    shard: str | None,
) -> None:
    _refuse(options, _NOT_WITH_FLEET)
    fleet_run = fleet.FleetOptions(
        launcher=_launcher,
        revision=options.get("revision") or "heads",
        child_args=_child_args(options),
        parallel=parallel,
        on_error="stop" if on_error == "stop" else "continue",
        canary=canary,
        shard=fleet.parse_shard(shard, os.environ),
        directory=cli_support.command_directory(options.get("directory")),
    )
    _run(app, fleet_run, options.get("output_format", "text"))


def _run(app: Any, fleet_run: fleet.FleetOptions, output_format: str) -> None:
    """Run the fleet with a line per target, render its summary, exit with its code."""
    from flask_safemigrate import cli_interrupt  # with the upgrade machinery: only when run

    err = output_format == "json"
    log = cli_support.json_log_active()
    printer: FleetPrinter | FleetJsonLogPrinter = (
        FleetPrinter(
            lambda text, nl: click.echo(text, nl=nl, err=err),
            live=(sys.stderr if err else sys.stdout).isatty(),
        )
        if log is None
        else FleetJsonLogPrinter(log.record)
    )
    try:
        with cli_interrupt.sigterm_interrupts():
            result = fleet.run_fleet(app, fleet_run, printer)
    except KeyboardInterrupt as stop:
        # Each running target was stopped as safe-upgrade stops (its revision rolled back,
        # its lock released) and recorded `interrupted`; a re-run resumes.
        printer.close()
        click.echo(
            "fleet run interrupted: the running targets were stopped and recorded; run the same"
            " command again to resume (`flask db fleet-status` shows where each target stands)",
            err=True,
        )
        terminated = isinstance(stop, cli_interrupt.Terminated)
        code = cli_interrupt.TERMINATED if terminated else cli_interrupt.INTERRUPTED
        raise SystemExit(code) from None
    finally:
        printer.close()
    if output_format == "json":
        click.echo(render_json(result.report))
    else:
        click.echo(str(result.report.facts["summary"]))
    exit_with(result.exit_code)


@click.command("fleet-status", cls=JsonUsageCommand)
@click.option("--run", "run_id", default=None, help="Only this fleet run's rows.")
@format_option("text", "json")
@handles_errors
@with_appcontext
def fleet_status_command(run_id: str | None, output_format: str) -> None:
    """Where every target of the fleet stands: failures first, counts per revision."""
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    result = fleet.fleet_status(app, run_id)
    if output_format == "json":
        click.echo(render_json(result.report))
    else:
        click.echo("\n".join(status_lines(result.report.facts)))
    exit_with(result.exit_code)
