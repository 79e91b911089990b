"""A newcomer's app: no naming convention, and the changes people make in their first weeks.

``v1`` -> ``v2`` on tables that already exist (and have rows): a unique column, an indexed
new column, a widened type, a NOT NULL dropped, and a new foreign key column; and a new table
with a unique column, a foreign key and a check, none of them named.
"""

from __future__ import annotations

import sqlalchemy as sa
from flask_sqlalchemy import SQLAlchemy


def v1(db: SQLAlchemy) -> None:
    sa.Table(
        "users",
        db.metadata,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("email", sa.String(120), nullable=False),
        sa.Column("name", sa.String(50), nullable=False),
    )
    sa.Table(
        "posts",
        db.metadata,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("title", sa.String(200), nullable=False),
    )


def v2(db: SQLAlchemy) -> None:
    sa.Table(
        "users",
        db.metadata,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("email", sa.String(120), nullable=False, unique=True),
        sa.Column("name", sa.String(60), nullable=True),
        sa.Column("handle", sa.String(40), unique=True),
        sa.Column("city", sa.String(80), index=True),
    )
    sa.Table(
        "posts",
        db.metadata,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("title", sa.String(200), nullable=False),
        sa.Column("author_id", sa.Integer, sa.ForeignKey("users.id"), index=True),
    )
    sa.Table(
        "tags",
        db.metadata,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("label", sa.String(40), nullable=False, unique=True),
        sa.Column("owner_id", sa.Integer, sa.ForeignKey("users.id"), index=True),
        sa.CheckConstraint("length(label) > 0"),
    )
