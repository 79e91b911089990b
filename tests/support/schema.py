"""Models and revisions of the dedicated-schema tests: tables in ``app_ops`` on PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import sqlalchemy as sa
from flask_sqlalchemy import SQLAlchemy

SCHEMA = "app_ops"


def declare_models(schema: str | None, *, bio: bool = False) -> Callable[[SQLAlchemy], None]:
    """``users`` and ``items`` (a foreign key and its index) in ``schema``."""

    def declare(db: SQLAlchemy) -> None:
        args: dict[str, Any] = {"schema": schema} if schema else {}
        prefix = f"{schema}." if schema else ""

        class User(db.Model):  # type: ignore[name-defined,misc]
            __tablename__ = "users"
            __table_args__ = args
            id = sa.Column(sa.Integer, primary_key=True)
            name = sa.Column(sa.String(50), nullable=False)
            if bio:
                biography = sa.Column(sa.Text, nullable=True)

        class Item(db.Model):  # type: ignore[name-defined,misc]
            __tablename__ = "items"
            __table_args__ = (sa.Index("ix_items_user_id", "user_id"), args)
            id = sa.Column(sa.Integer, primary_key=True)
            user_id = sa.Column(sa.ForeignKey(f"{prefix}users.id"), nullable=False)

    return declare


def users_revision(schema: str | None = SCHEMA, revision: str = "a1") -> str:
    """A hand-written revision creating ``users`` and ``items`` like :func:`declare_models`."""
    kw = f", schema={schema!r}" if schema else ""
    prefix = f"{schema}." if schema else ""
    return f'''
        """create users and items"""
        from alembic import op
        import sqlalchemy as sa

        revision = {revision!r}
        down_revision = None
        branch_labels = None
        depends_on = None


        def upgrade():
            op.create_table(
                "users",
                sa.Column("id", sa.Integer(), nullable=False),
                sa.Column("name", sa.String(length=50), nullable=False),
                sa.PrimaryKeyConstraint("id"){kw},
            )
            op.create_table(
                "items",
                sa.Column("id", sa.Integer(), nullable=False),
                sa.Column("user_id", sa.Integer(), nullable=False),
                sa.ForeignKeyConstraint(["user_id"], ["{prefix}users.id"]),
                sa.PrimaryKeyConstraint("id"){kw},
            )
            op.create_index("ix_items_user_id", "items", ["user_id"], unique=False{kw})


        def downgrade():
            op.drop_index("ix_items_user_id", table_name="items"{kw})
            op.drop_table("items"{kw})
            op.drop_table("users"{kw})
    '''
