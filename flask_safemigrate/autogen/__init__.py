"""Idempotent autogenerate: ``flask db migrate`` writes every create and drop behind a guard.

:func:`install` puts :class:`RevisionHook` into Flask-Migrate's ``configure_args`` (the stock
``env.py`` passes them to Alembic, so it needs no edit) and the dated file-name template into
its ``configure`` callbacks. :func:`check_message` is what ``flask db migrate``/``revision``
run before Alembic; :func:`script_files` and :func:`add_guards_import` give the scripts they
wrote the ``guards`` import (:mod:`.imports`).
"""

from __future__ import annotations

from flask import Flask

from flask_safemigrate import dedicated_schema
from flask_safemigrate.autogen.filename import FILE_TEMPLATE, use_dated_file_names
from flask_safemigrate.autogen.hook import RevisionHook
from flask_safemigrate.autogen.imports import add_guards_import, script_files
from flask_safemigrate.autogen.message import check_message, check_writable, is_vague
from flask_safemigrate.autogen.reach import require_reachable

__all__ = [
    "FILE_TEMPLATE",
    "RevisionHook",
    "add_guards_import",
    "check_message",
    "check_writable",
    "install",
    "is_vague",
    "require_reachable",
    "script_files",
    "use_dated_file_names",
]


def install(app: Flask) -> None:
    """Install the hook and the file-name template for ``app``; safe to call again.

    The configure arguments are replaced, not mutated: Flask-Migrate shares that dict with its
    ``Migrate`` object, which other apps may use too. A hook the app already configured is
    kept and runs first.
    """
    config = app.extensions.get("migrate")
    if config is None:
        return
    hook = config.configure_args.get("process_revision_directives")
    if not isinstance(hook, RevisionHook):
        config.configure_args = {
            **config.configure_args,
            "process_revision_directives": RevisionHook(hook),
        }
    if use_dated_file_names not in config.migrate.configure_callbacks:
        config.migrate.configure(use_dated_file_names)
    # What autogenerate compares: only SAFEMIGRATE_SCHEMA when set, never the ledger.
    dedicated_schema.install(app)
