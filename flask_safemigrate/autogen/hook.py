"""The ``process_revision_directives`` SafeMigrate installs: the app's hook, then ours.

Flask-Migrate's stock ``env.py`` installs its own hook (skip a migration with no changes)
only when none was configured, so once ours is installed it must do that job too.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any

from alembic.operations import ops
from alembic.runtime.migration import MigrationContext
from alembic.util import CommandError
from flask import current_app, has_app_context
from sqlalchemy.engine import Connection

from flask_safemigrate import dedicated_schema
from flask_safemigrate.autogen import render  # noqa: F401  (registers the renderers)
from flask_safemigrate.autogen.enums import (
    EnumPlan,
    existing_enums,
    metadata_enums,
    used_enums,
)
from flask_safemigrate.autogen.rewrite import Target, guard_container

Directives = list[ops.MigrationScript]
Hook = Callable[[MigrationContext, Any, Directives], None]

logger = logging.getLogger("alembic.env")


class RevisionHook:
    """Runs the app's own hook first (it sees Alembic's plain ops), then skips an empty
    autogenerate like the stock ``env.py`` does, then guards every create and drop."""

    def __init__(self, app_hook: Hook | None) -> None:
        self.app_hook = app_hook

    def __call__(self, context: MigrationContext, revision: Any, directives: Directives) -> None:
        if self.app_hook is not None:
            self.app_hook(context, revision, directives)
        if not directives or not _autogenerating(context):
            return
        _refuse_tables_outside_schema(context)
        if _nothing_changed(directives[0], context):
            directives[:] = []
            logger.info("No changes in schema detected.")
            return
        if not _idempotent():
            return
        for script in directives:
            upgrade, downgrade = _targets(context, script)
            for up in script.upgrade_ops_list:
                guard_container(up, upgrade)
            for down in script.downgrade_ops_list:
                guard_container(down, downgrade)


def _refuse_tables_outside_schema(context: MigrationContext) -> None:
    """With ``SAFEMIGRATE_SCHEMA``, a model table outside it would be "added" every time."""
    if not has_app_context():
        return
    safe = current_app.extensions.get("safemigrate")
    schema = safe.get_settings().schema if safe is not None else None
    metadata = context.opts.get("target_metadata")
    if schema is None or metadata is None:
        return
    default = context.dialect.default_schema_name
    outside = [
        name
        for each in (metadata if isinstance(metadata, list | tuple) else [metadata])
        for name in dedicated_schema.tables_outside(each, schema, default)
    ]
    if outside:
        error = dedicated_schema.outside_error(outside, schema, default)
        raise CommandError(f"{error.message}; {error.hint}")


def _autogenerating(context: MigrationContext) -> bool:
    config = context.config
    return bool(getattr(getattr(config, "cmd_opts", None), "autogenerate", False))


def _bind_names() -> list[str]:
    """The binds Flask-Migrate's multi-database ``env.py`` migrates (its own computation)."""
    binds = current_app.config.get("SQLALCHEMY_BINDS")
    if binds is not None:
        return list(binds)
    get_bind_names = getattr(current_app.extensions["migrate"].db, "bind_names", None)
    return list(get_bind_names()) if get_bind_names else []


def _nothing_changed(script: ops.MigrationScript, context: MigrationContext) -> bool:
    """What the stock hook decides; the multi-database one waits for every bind's turn."""
    containers: Sequence[ops.UpgradeOps] = script.upgrade_ops_list
    if not all(container.is_empty() for container in containers):
        return False
    if context.opts.get("upgrade_token", "upgrades") == "upgrades":
        return True
    return has_app_context() and len(containers) >= len(_bind_names()) + 1


def _idempotent() -> bool:
    if not has_app_context():
        return True
    safe = current_app.extensions.get("safemigrate")
    return safe is None or bool(safe.get_settings().idempotent)


def _targets(context: MigrationContext, script: ops.MigrationScript) -> tuple[Target, Target]:
    """What ``upgrade()`` and ``downgrade()`` are rendered for."""
    dialect = context.dialect.name
    batch = bool(context.opts.get("render_as_batch", False))
    bind = context.bind
    if dialect != "postgresql" or not isinstance(bind, Connection):
        return Target(dialect, batch), Target(dialect, batch, downgrade=True)
    used: set[tuple[str | None, str]] = set()
    for container in script.upgrade_ops_list:
        used |= used_enums(container.ops)
    in_models = metadata_enums(context.opts.get("target_metadata"))
    in_database = existing_enums(bind, used | in_models)
    # Upgrade goes from the database as it is now to the models; downgrade comes back.
    return (
        Target(dialect, batch, EnumPlan(before=in_database, after=in_models)),
        Target(dialect, batch, EnumPlan(before=in_models, after=in_database), downgrade=True),
    )
