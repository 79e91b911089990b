"""Two versions of a small schema: what the generated migrations under test are made from.

``v1`` -> ``v2`` covers what the issue lists: a new table with foreign keys and indexes,
added and dropped columns, an added and a dropped unique constraint, an added and a dropped
foreign key, a changed index (dropped and re-created under one name), check constraints,
and PostgreSQL enum types (one with a new table, one with a new column). On SQLite the
``posts`` and ``users`` changes run inside batch blocks that rebuild the table.

Autogenerate does not compare check constraints of existing tables;
:func:`compare_check_constraints` is the app's own ``process_revision_directives`` that does,
so the tests also show an app's hook composed with SafeMigrate's.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic.operations import ops
from alembic.runtime.migration import MigrationContext
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy.sql.elements import conv

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def v1(db: SQLAlchemy) -> None:
    db.metadata.naming_convention = NAMING
    sa.Table(
        "users",
        db.metadata,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("email", sa.String(120), nullable=False, unique=True),
        sa.Column("name", sa.String(80), index=True),
        sa.CheckConstraint("length(email) > 3", name="email_long_enough"),
    )
    sa.Table(
        "posts",
        db.metadata,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("author_id", sa.Integer, sa.ForeignKey("users.id"), nullable=False, index=True),
        sa.Column("reviewer_id", sa.Integer, sa.ForeignKey("users.id"), index=True),
        sa.Column("title", sa.String(200), nullable=False),
        sa.Column("status", sa.Enum("draft", "published", name="post_status"), nullable=False),
        sa.Column("slug", sa.String(200), unique=True),
        sa.CheckConstraint("length(title) > 0", name="title_not_empty"),
        sa.Index("ix_posts_title", "title"),
    )


def v2(db: SQLAlchemy, *, tags_and_roles: bool = True) -> None:
    db.metadata.naming_convention = NAMING
    role: list[sa.Column[str]] = [sa.Column("role", sa.Enum("admin", "member", name="user_role"))]
    sa.Table(
        "users",
        db.metadata,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("email", sa.String(120), nullable=False, unique=True),
        sa.Column("handle", sa.String(40), unique=True),
        sa.Column("bio", sa.Text),
        *(role if tags_and_roles else []),
        sa.CheckConstraint("length(handle) > 1", name="handle_long_enough"),
    )
    sa.Table(
        "posts",
        db.metadata,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("author_id", sa.Integer, sa.ForeignKey("users.id"), nullable=False, index=True),
        sa.Column("editor_id", sa.Integer, sa.ForeignKey("users.id"), index=True),
        sa.Column("title", sa.String(200), nullable=False),
        sa.Column("status", sa.Enum("draft", "published", name="post_status"), nullable=False),
        sa.Column("slug", sa.String(200)),
        sa.CheckConstraint("length(title) > 0", name="title_not_empty"),
        sa.Index("ix_posts_title", "title", "status"),
    )
    if not tags_and_roles:
        return
    sa.Table(
        "tags",
        db.metadata,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(50), nullable=False, unique=True),
        sa.Column("kind", sa.Enum("topic", "series", name="tag_kind"), nullable=False),
        sa.CheckConstraint("length(name) > 0", name="name_not_empty"),
    )
    sa.Table(
        "post_tags",
        db.metadata,
        sa.Column("post_id", sa.Integer, sa.ForeignKey("posts.id"), primary_key=True),
        sa.Column("tag_id", sa.Integer, sa.ForeignKey("tags.id"), primary_key=True, index=True),
    )


def _metadatas(context: MigrationContext) -> list[sa.MetaData]:
    target = context.opts.get("target_metadata")
    return list(target) if isinstance(target, list | tuple) else [target] if target else []


def compare_check_constraints(
    context: MigrationContext, revision: Any, directives: list[ops.MigrationScript]
) -> None:
    """Add and drop named check constraints of tables that exist on both sides."""
    if not directives or context.bind is None:
        return
    script = directives[0]
    inspector = sa.inspect(context.bind)
    existing = set(inspector.get_table_names())
    upgrades: list[ops.MigrateOperation] = []
    for metadata in _metadatas(context):
        for table in metadata.sorted_tables:
            if table.name not in existing:
                continue
            wanted = {
                str(c.name): c for c in table.constraints if isinstance(c, sa.CheckConstraint)
            }
            found = {
                str(c["name"]): c for c in inspector.get_check_constraints(table.name) if c["name"]
            }
            # conv(): the names are final, the naming convention must not apply again.
            changes: list[ops.MigrateOperation] = [
                ops.DropConstraintOp(conv(name), table.name, type_="check")
                for name in sorted(set(found) - set(wanted))
            ]
            changes += [
                ops.CreateCheckConstraintOp(conv(name), table.name, wanted[name].sqltext)
                for name in sorted(set(wanted) - set(found))
            ]
            if changes:
                upgrades.append(ops.ModifyTableOps(table.name, changes))
    if not upgrades or script.upgrade_ops is None or script.downgrade_ops is None:
        return
    script.upgrade_ops.ops.extend(upgrades)
    found_checks = {
        (t.name, c["name"]): c["sqltext"]
        for t in _all_tables(context)
        if t.name in existing
        for c in inspector.get_check_constraints(t.name)
    }
    downgrades: list[ops.MigrateOperation] = []
    for block in reversed(upgrades):
        assert isinstance(block, ops.ModifyTableOps)
        reverse: list[ops.MigrateOperation] = []
        for change in reversed(block.ops):
            if isinstance(change, ops.CreateCheckConstraintOp):
                name = str(change.constraint_name)
                reverse.append(ops.DropConstraintOp(conv(name), block.table_name, type_="check"))
            elif isinstance(change, ops.DropConstraintOp):
                name = str(change.constraint_name)
                sqltext = found_checks[(block.table_name, name)]
                reverse.append(ops.CreateCheckConstraintOp(conv(name), block.table_name, sqltext))
        downgrades.append(ops.ModifyTableOps(block.table_name, reverse))
    script.downgrade_ops.ops[:0] = downgrades


def _all_tables(context: MigrationContext) -> list[sa.Table]:
    return [t for metadata in _metadatas(context) for t in metadata.sorted_tables]


def v3(db: SQLAlchemy) -> None:
    """v2 without the enum column ``users.role`` and without ``tags`` (and ``post_tags``)."""
    v2(db, tags_and_roles=False)
