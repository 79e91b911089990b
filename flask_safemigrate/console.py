"""The standalone ``safemigrate`` command: what runs without a Flask app (for pre-commit, CI)."""

from __future__ import annotations

import argparse
import atexit
import functools
import gc
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import NoReturn

import click

from flask_safemigrate.cli_support import (
    LintArgs,
    echo_lint,
    explain_rule,
    handles_errors,
    lint_advice,
    lint_cli_options,
    lint_options,
)
from flask_safemigrate.cli_usage import JsonUsageCommand
from flask_safemigrate.errors import ConfigError
from flask_safemigrate.suggested import LintCommand
from flask_safemigrate.version import __version__


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="safemigrate")
def main() -> None:
    """Check Alembic migration scripts without a Flask app or a database."""


@main.command("lint", cls=JsonUsageCommand)
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
@lint_options
@handles_errors
def lint(
    paths: tuple[Path, ...],
    args: LintArgs,
    output_format: str,
) -> None:
    """Check migration scripts (files, version folders or a migrations folder).

    With no PATH, lints ./migrations. Options not given come from [tool.safemigrate.lint] in
    the nearest pyproject.toml.
    """
    from flask_safemigrate.caches import user_cache
    from flask_safemigrate.lint import engine, options
    from flask_safemigrate.lint.command import lint_command, since_revisions

    if args.explain:
        explain_rule(args.explain)
        return
    skip_final_collection()
    # Advice to lint again names this command, not `flask db lint` (which needs an app).
    again = LintCommand.of("safemigrate lint", paths)
    with lint_advice(again):
        targets = list(paths) or [Path("migrations")]
        if not paths and not targets[0].exists():
            raise ConfigError(
                f"no migrations directory at migrations ({targets[0].resolve()}): with no PATH,"
                " safemigrate lint reads ./migrations",
                hint="run it from the folder that holds migrations/, or name what to lint:"
                " `safemigrate lint path/to/migrations` (a migrations folder, a versions folder"
                " or scripts)",
            )
        config = options.resolve(
            lint_cli_options(args),
            settings=None,
            search_from=targets[0] if targets[0].is_dir() else targets[0].parent,
        )
        only = None
        if args.since:
            _, locations = engine.collect_files(targets)
            only = since_revisions(locations, args.since, with_app=False)
        result = lint_command(
            targets,
            config,
            only_revisions=only,
            write_baseline=args.write_baseline,
            cache_dir=None if args.no_cache else user_cache(),
            lint=again,
        )
    echo_lint(result, output_format, again)


@functools.cache
def skip_final_collection() -> None:
    """At exit, skip the interpreter's last search for reference cycles.

    Python's shutdown runs the cyclic garbage collector once more over every object still
    alive (the report's findings, the revision graph, every module) to find cycles nothing
    will use: about 18 ms of CPU at the end of a 1,000-script ``safemigrate lint``, 6 to 9 ms
    with this. Objects frozen by ``gc.freeze`` are left out of it; the standard streams are
    still flushed and atexit handlers run, and the memory goes with the process. Registered
    once per process (the standalone command owns it; ``flask db lint`` runs in the app's).
    """
    atexit.register(gc.freeze)


def rules_doc_main(argv: Sequence[str] | None = None) -> int:
    """Write ``docs/rules.md`` (or, with ``--check``, only say whether it is stale); the exit
    code: 1 when ``--check`` finds it stale or missing."""
    from flask_safemigrate.lint import docs

    parser = argparse.ArgumentParser(
        prog=docs.FIX_COMMAND,
        description="Generate docs/rules.md from the lint rules' docstrings.",
    )
    parser.add_argument(
        "--output",
        type=Path,
        default=docs.DEFAULT_OUTPUT,
        help="the file to write or check (default: docs/rules.md)",
    )
    parser.add_argument(
        "--check", action="store_true", help="do not write; exit 1 if the file is stale"
    )
    args = parser.parse_args(argv)
    output: Path = args.output
    text = docs.render_rules_markdown()
    state = docs.rules_doc_state(output, text)
    if state == "current":
        print(f"{output} is {'up to date' if args.check else 'already up to date'}.")
        return 0
    if args.check:
        print(f"{output} is {state}: run `{docs.FIX_COMMAND}` to regenerate it.", file=sys.stderr)
        return 1
    docs.write_rules_doc(output, text)
    print(f"wrote {output}")
    return 0


def regenerate_rules_doc() -> NoReturn:
    """``python -m flask_safemigrate.lint.docs``: :func:`rules_doc_main`, exiting with its code."""
    sys.exit(rules_doc_main())


__all__ = ["main", "regenerate_rules_doc", "rules_doc_main"]
