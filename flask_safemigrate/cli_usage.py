"""Click's usage errors (an unknown option, a bad value) in the output a command was asked for.

Click parses a command's options before the command runs, so a bad option never reaches
:func:`~flask_safemigrate.cli_support.handles_errors`: click prints its usage text and exits 2,
and ``--format json`` left stdout empty although docs/exit-codes.md promises one JSON object on
every exit. :class:`JsonUsageCommand` catches the error where click raises it and, when the
arguments ask for ``--format json``, first writes the same error object as a missing migrations
directory does; with ``--log-format json`` stderr gets an ``error`` record instead of click's text.
The exit code stays 2, and text output stays click's own.

No Flask here: ``safemigrate lint`` uses the class and starts without it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import click

from flask_safemigrate.cli_support import error_document, error_record
from flask_safemigrate.errors import ConfigError, ExitCode
from flask_safemigrate.render import json_log

__all__ = ["JsonUsageCommand", "chosen", "usage_error"]


class JsonUsageCommand(click.Command):
    """A command whose usage errors honour ``--format json`` and ``--log-format json``.

    Every command of ours with a ``--format`` that offers ``json`` uses it (a test walks them).
    """

    def make_context(
        self,
        info_name: str | None,
        args: list[str],
        parent: click.Context | None = None,
        **extra: Any,
    ) -> click.Context:
        given = list(args)  # click's parser consumes the list it is given
        try:
            return super().make_context(info_name, args, parent, **extra)
        except click.UsageError as error:
            output_format = chosen(self, given, "--format")
            log_format = chosen(self, given, "--log-format")
            if output_format != "json" and log_format != "json":
                raise  # click's usage text, as ever
            path = error.ctx.command_path if error.ctx is not None else (info_name or self.name)
            problem = usage_error(error, str(path))
            if output_format == "json":
                click.echo(error_document(problem))
            if log_format != "json":
                raise  # click's usage text on stderr, for the people reading it
            click.echo(json_log.record_line("error", "error", error_record(problem)), err=True)
            raise SystemExit(int(ExitCode.USAGE)) from None


def usage_error(error: click.UsageError, command_path: str) -> ConfigError:
    """Click's ``error`` as the :class:`ConfigError` a bad option is (exit 2): click's message,
    the option it is about as ``where``, and the command's ``--help`` as the hint."""
    where: str | None = None
    if isinstance(error, click.NoSuchOption | click.BadOptionUsage):
        where = error.option_name
    elif isinstance(error, click.BadParameter):
        if error.param_hint is not None:
            hint = error.param_hint
            where = hint if isinstance(hint, str) else " / ".join(hint)
        elif isinstance(error.param, click.Option):
            where = " / ".join(error.param.opts)
        elif error.param is not None:  # an argument, as click's usage line names it
            where = error.param.human_readable_name
    return ConfigError(
        error.format_message(),
        where=where,
        hint=f"run `{command_path} --help` for the options it takes",
    )


def chosen(command: click.Command, args: Sequence[str], option: str) -> str | None:
    """The value ``args`` give ``option`` (``--format json`` or ``--format=json``; the last one
    wins, as in click), read without click's parser, which has just refused ``args``. Values
    of the command's other options (``-m --format``) are skipped; ``--`` ends the options."""
    takes_value = {
        name
        for param in command.params
        if isinstance(param, click.Option) and not param.is_flag and not param.count
        for name in (*param.opts, *param.secondary_opts)
    }
    value: str | None = None
    index = 0
    while index < len(args):
        arg = args[index]
        if arg == "--":
            break
        if arg == option:
            value = args[index + 1] if index + 1 < len(args) else None
            index += 2
            continue
        if arg.startswith(option + "="):
            value = arg[len(option) + 1 :]
        elif arg in takes_value:
            index += 1  # its value, whatever it looks like
        index += 1
    return value
