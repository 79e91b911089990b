"""Writing the merge revision: Alembic renders it, whole or not at all, and the result is checked.

The revision is written by Alembic from the project's ``script.py.mako`` and
``file_template``, to a temporary file that replaces into place; no existing script is ever
rewritten or deleted. What Alembic and post-write hooks print is left where they print it:
keeping stdout clean for a JSON report is the CLI's business
(:func:`flask_safemigrate.cli_support.stdout_to_stderr`).
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import os
import secrets
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from alembic import util as alembic_util
from alembic.config import Config
from alembic.runtime.environment import EnvironmentContext
from alembic.script import ScriptDirectory
from flask import Flask

from flask_safemigrate import history, safe_text
from flask_safemigrate.errors import ChecksFailed, PreflightError
from flask_safemigrate.merge.planning import Plan, default_message, history_problem
from flask_safemigrate.text import display_path, one_line

__all__ = ["write_merge"]


class _AtomicScriptDirectory(ScriptDirectory):
    """Alembic's ``ScriptDirectory`` writing a new script whole or not at all.

    The template is rendered to a hidden temporary file next to the target (Alembic ignores
    names that do not end in ``.py``), then replaced into place; an existing file of the same
    name is never overwritten. The file name's slug comes from ``slug_of``, the message as
    the user gave it: Alembic would make it from the escaped one that the script's source
    holds, where a line break (``\\n``) would run two words together ("merge a\\nand b"
    named ``merge_a_nand_b``).
    """

    slug_of: str | None = None

    @classmethod
    def wrapping(cls, base: ScriptDirectory, *, slug_of: str) -> _AtomicScriptDirectory:
        script = cls.__new__(cls)
        script.__dict__.update(vars(base))
        script.slug_of = slug_of
        return script

    def _rev_path(
        self,
        path: str | os.PathLike[str],
        rev_id: str,
        message: str | None,
        create_date: datetime.datetime,
    ) -> Path:
        slug_of = message if self.slug_of is None else self.slug_of
        return super()._rev_path(path, rev_id, slug_of, create_date)

    def _generate_template(self, src: Path, dest: Path, **kw: Any) -> None:
        dest = Path(dest)
        if dest.exists():
            raise alembic_util.CommandError(f"{dest} already exists; not overwriting it")
        temporary = dest.with_name(f".{dest.name}.{secrets.token_hex(4)}.tmp")
        try:
            with alembic_util.status(f"Generating {dest.absolute()}", **self.messaging_opts):
                alembic_util.template_to_file(src, temporary, self.output_encoding, **kw)
                temporary.replace(dest)
        finally:
            temporary.unlink(missing_ok=True)


def _config(
    target: Flask | str | os.PathLike[str], directory: Path, x_args: Sequence[str]
) -> Config:
    """Flask-Migrate's config for an app (configure callbacks included), else a plain one;
    ``x_args`` reach ``env.py`` (``context.get_x_argument()``) when it runs."""
    if isinstance(target, Flask):
        config: Config = target.extensions["migrate"].migrate.get_config(
            str(directory), x_arg=list(x_args), opts=["quiet"]
        )
        return config
    ini = directory / "alembic.ini"
    config = Config(str(ini) if ini.is_file() else None)
    config.set_main_option("script_location", str(directory))
    config.cmd_opts = argparse.Namespace(quiet=True, x=list(x_args))
    return config


def _python_files(locations: Iterable[Path]) -> set[Path]:
    return {
        path
        for location in locations
        if location.is_dir()
        for path in location.iterdir()
        if path.suffix == ".py"
    }


def _remove_written(locations: Iterable[Path], before: set[Path], revision: str) -> None:
    """Delete only files that did not exist before and that hold the new revision id."""
    for path in _python_files(locations) - before:
        with contextlib.suppress(OSError):
            if revision in path.read_text(encoding="utf-8", errors="replace"):
                path.unlink()


def _generate(
    target: Flask | str | os.PathLike[str],
    plan: Plan,
    messages: tuple[str, str],
    revision: str,
    x_args: Sequence[str],
) -> Path:
    """Alembic's merge revision; ``messages`` is the message as given (for the file name)
    and as escaped for the script's source."""
    given, message = messages
    config = _config(target, plan.directory, x_args)
    template_args: dict[str, Any] = {"config": config}
    script = _AtomicScriptDirectory.wrapping(ScriptDirectory.from_config(config), slug_of=given)
    if alembic_util.asbool(config.get_alembic_option("revision_environment")):
        # As `alembic merge` does: env.py runs first, so templates can read its context.
        with EnvironmentContext(
            config, script, fn=lambda rev, context: [], as_sql=False, template_args=template_args
        ):
            script.run_env()
    written = script.generate_revision(
        revision, message, refresh=True, head=list(plan.heads), **template_args
    )
    if written is None:
        raise alembic_util.CommandError("Alembic wrote no revision script")
    return Path(written.path)


def _graph_after(plan: Plan, before: set[Path]) -> history.RevisionGraph:
    """The history as it is now, reading only the files that are new.

    The plan read (and found sound) every other script; reading a long history again would
    cost more than Alembic's own merge.
    """
    scripts = [*plan.graph.scripts.values()]
    problems = list(plan.graph.problems)
    for added in sorted(_python_files(plan.locations) - before):
        read = history.read_script(added)
        if isinstance(read, history.Script):
            scripts.append(read)
        else:
            problems.append(read)
    return history.RevisionGraph(scripts, problems)


def write_merge(
    target: Flask | str | os.PathLike[str],
    plan: Plan,
    message: str | None,
    x_args: Sequence[str] = (),
) -> tuple[str, Path]:
    """Have Alembic write the merge revision, then check the history has one head.

    ``x_args`` (``-x``) reach ``env.py``, which Alembic runs first when ``alembic.ini`` sets
    ``revision_environment``; they are passed, not read from ``flask.g``, since the merge is
    written in an app context of its own. On any failure the file written here (and only
    that one) is removed.
    """
    revision = alembic_util.rev_id()
    # The template places the message in the script's source (`"""${message}`): escaped, a
    # quote or a line break stays text and reads back as the message, never as code. The
    # file name's slug is made from the message as given (see _AtomicScriptDirectory).
    given = message or default_message(plan.graph, plan.heads)
    message = safe_text.in_python_string(given)
    before = _python_files(plan.locations)
    context = target.app_context() if isinstance(target, Flask) else contextlib.nullcontext()
    try:
        with context:
            path = _generate(target, plan, (given, message), revision, x_args)
    except Exception as exc:  # Alembic imports every script: any error may surface here
        _remove_written(plan.locations, before, revision)
        raise PreflightError(
            f"Alembic could not write the merge revision: {one_line(exc)}",
            where=str(plan.directory),
            hint="`flask db heads` shows Alembic's own error; check the scripts and script.py.mako",
            data=plan.facts(),
        ) from None
    after = _graph_after(plan, before)
    if after.heads != (revision,) or history_problem(after) is not None:
        _remove_written(plan.locations, before, revision)
        raise ChecksFailed(
            f"the merge revision did not leave one head (heads: {', '.join(after.heads)});"
            " it was removed",
            where=display_path(path),
            hint="check `file_template` and `version_locations` in alembic.ini",
            data=plan.facts(),
        )
    return revision, path
