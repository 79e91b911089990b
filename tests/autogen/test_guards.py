"""``flask_safemigrate.guards`` on real databases, asked from inside a migration context.

Every question goes to the migration's own connection: within one transaction (PostgreSQL
runs DDL transactionally) an answer reflects the DDL just run, never a cached one.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.operations import Operations
from alembic.runtime.migration import MigrationContext
from sqlalchemy.engine import Connection
from sqlalchemy.pool import NullPool

from flask_safemigrate import guards
from tests.support.databases import DbKind, scratch_name


@pytest.fixture
def conn(database_url: str) -> Iterator[Connection]:
    engine = sa.create_engine(database_url, poolclass=NullPool)
    try:
        with engine.begin() as connection:
            yield connection
    finally:
        engine.dispose()


@pytest.fixture
def op(conn: Connection) -> Iterator[Operations]:
    """``alembic.op`` bound to a migration context on ``conn``, as inside ``upgrade()``."""
    with Operations.context(MigrationContext.configure(conn)) as operations:
        yield operations


def test_tables_columns_and_indexes_follow_the_ddl(op: Operations) -> None:
    assert guards.table_missing("users") and not guards.table_exists("users")
    assert guards.column_missing("users", "email") and not guards.column_exists("users", "email")
    assert guards.index_missing("users", "ix_users_email")
    assert not guards.index_exists("users", "ix_users_email")

    op.create_table(
        "users",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("email", sa.String(50)),
    )
    assert guards.table_exists("users") and not guards.table_missing("users")
    assert guards.column_exists("users", "email") and not guards.column_missing("users", "email")
    assert guards.column_missing("users", "bio")

    op.add_column("users", sa.Column("bio", sa.Text()))
    assert guards.column_exists("users", "bio")
    op.create_index("ix_users_email", "users", ["email"])
    assert guards.index_exists("users", "ix_users_email")
    assert not guards.index_missing("users", "ix_users_email")
    assert guards.index_missing("users", "ix_users_bio")

    op.drop_index("ix_users_email", table_name="users")
    assert guards.index_missing("users", "ix_users_email")
    with op.batch_alter_table("users") as batch:
        batch.drop_column("bio")
    assert guards.column_missing("users", "bio")
    op.drop_table("users")
    assert guards.table_missing("users")


def test_constraints_by_name_and_by_columns(op: Operations) -> None:
    op.create_table("users", sa.Column("id", sa.Integer, primary_key=True, autoincrement=False))
    op.create_table(
        "posts",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("author_id", sa.Integer),
        sa.Column("editor_id", sa.Integer),
        sa.Column("slug", sa.String(40)),
        sa.Column("a", sa.Integer),
        sa.Column("b", sa.Integer),
        sa.ForeignKeyConstraint(["author_id"], ["users.id"], name="fk_posts_author"),
        sa.ForeignKeyConstraint(["editor_id"], ["users.id"]),
        sa.UniqueConstraint("slug", name="uq_posts_slug"),
        sa.UniqueConstraint("a", "b"),
        sa.CheckConstraint("a > 0", name="ck_posts_a_positive"),
        sa.PrimaryKeyConstraint("id", name="pk_posts"),
    )
    assert guards.unique_exists("posts", "uq_posts_slug")
    assert not guards.unique_missing("posts", "uq_posts_slug")
    assert guards.unique_missing("posts", "uq_posts_other")
    assert not guards.unique_missing("posts", None, columns=["b", "a"])
    assert guards.unique_missing("posts", None, columns=["a"])

    assert guards.foreign_key_exists("posts", "fk_posts_author")
    assert not guards.foreign_key_missing("posts", "fk_posts_author")
    assert not guards.foreign_key_missing("posts", None, columns=["editor_id"])
    assert guards.foreign_key_missing("posts", None, columns=["slug"])

    assert guards.check_exists("posts", "ck_posts_a_positive")
    assert not guards.check_missing("posts", "ck_posts_a_positive")
    assert guards.check_missing("posts", "ck_posts_b_positive")

    for name in ("uq_posts_slug", "fk_posts_author", "ck_posts_a_positive"):
        assert guards.constraint_exists("posts", name), name
    assert not guards.constraint_exists("posts", "nothing_called_this")

    with op.batch_alter_table("posts") as batch:
        batch.drop_constraint("fk_posts_author", type_="foreignkey")
    with op.batch_alter_table("posts") as batch:
        batch.drop_constraint("uq_posts_slug", type_="unique")
        batch.drop_constraint("ck_posts_a_positive", type_="check")
    assert guards.foreign_key_missing("posts", "fk_posts_author")
    assert guards.unique_missing("posts", "uq_posts_slug")
    assert guards.check_missing("posts", "ck_posts_a_positive")
    with op.batch_alter_table("posts") as batch:
        batch.create_unique_constraint("uq_posts_slug", ["slug"])
    assert guards.unique_exists("posts", "uq_posts_slug")
    # Nothing exists on a table that does not.
    assert guards.unique_missing("nowhere", "uq_x") and not guards.unique_exists("nowhere", "uq_x")
    assert not guards.foreign_key_exists("nowhere", "fk_x")
    assert not guards.check_exists("nowhere", "ck_x")
    assert not guards.constraint_exists("nowhere", "x")


def test_enum_types(op: Operations, conn: Connection, db_kind: DbKind) -> None:
    mood = sa.Enum("happy", "sad", name="mood")
    if db_kind != "postgresql":
        # No named types: there is nothing to create or drop.
        assert not guards.enum_missing("mood") and not guards.enum_exists("mood")
        return
    assert guards.enum_missing("mood") and not guards.enum_exists("mood")
    mood.create(conn)
    assert guards.enum_exists("mood") and not guards.enum_missing("mood")
    mood.drop(conn)
    assert guards.enum_missing("mood")


def test_names_are_never_quoted_by_hand(op: Operations) -> None:
    table, column, index = "it's Odd", 'Mixed "Case"', "ix it's"
    op.create_table(
        table, sa.Column("id", sa.Integer, primary_key=True), sa.Column(column, sa.Integer)
    )
    op.create_index(index, table, [column])
    assert guards.table_exists(table) and not guards.table_missing(table)
    assert guards.column_exists(table, column) and guards.column_missing(table, "mixed")
    assert guards.index_exists(table, index)
    assert guards.table_missing("it") and guards.table_missing("'; DROP TABLE x; --")


@pytest.fixture
def other_schema(conn: Connection, db_kind: DbKind, tmp_path: Path) -> Iterator[str]:
    """A second schema: a PostgreSQL schema, a MySQL database, an attached SQLite file."""
    if db_kind == "sqlite":
        conn.exec_driver_sql(f"ATTACH DATABASE '{tmp_path / 'other.db'}' AS other")
        yield "other"
        return
    name = scratch_name() if db_kind == "mysql" else "other"
    conn.execute(sa.schema.CreateSchema(name))
    try:
        yield name
    finally:
        if db_kind == "mysql":  # a database of its own: the test database's drop misses it
            conn.execute(sa.schema.DropSchema(name, cascade=False))


def test_schemas(op: Operations, other_schema: str) -> None:
    op.create_table(
        "events",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("kind", sa.String(20)),
        schema=other_schema,
    )
    op.create_index("ix_events_kind", "events", ["kind"], schema=other_schema)
    assert guards.table_exists("events", schema=other_schema)
    assert guards.table_missing("events")  # not in the default schema
    assert guards.column_exists("events", "kind", schema=other_schema)
    assert guards.column_missing("events", "kind")
    assert guards.index_exists("events", "ix_events_kind", schema=other_schema)
    assert guards.index_missing("events", "ix_events_kind")
    op.drop_table("events", schema=other_schema)
    assert guards.table_missing("events", schema=other_schema)


@pytest.mark.parametrize("dialect", ["sqlite", "postgresql", "mysql"])
def test_offline_every_guard_lets_the_statement_through(dialect: str) -> None:
    """``--sql``: nothing to ask, so creates and drops alike are written out."""
    context = MigrationContext.configure(
        dialect_name=dialect, opts={"as_sql": True, "output_buffer": io.StringIO()}
    )
    with Operations.context(context):
        answers = [
            guards.table_missing("t"),
            guards.table_exists("t"),
            guards.column_missing("t", "c"),
            guards.column_exists("t", "c"),
            guards.index_missing("t", "i"),
            guards.index_exists("t", "i"),
            guards.unique_missing("t", "u"),
            guards.unique_exists("t", "u"),
            guards.foreign_key_missing("t", "f"),
            guards.foreign_key_exists("t", "f"),
            guards.check_missing("t", "c"),
            guards.check_exists("t", "c"),
            guards.constraint_exists("t", "c"),
            guards.constraint_missing("t", "c"),
            guards.enum_missing("e"),
            guards.enum_exists("e"),
        ]
        # Not a question: a check that stops the migration; offline it has nothing to read.
        guards.require_no_orphans("t", ["p_id"], "p", ["id"])
        guards.require_no_duplicates("t", ["c"])
    assert answers == [True] * len(answers)
    assert len(answers) + 2 == len(guards.__all__)


def test_an_index_a_failed_build_left_behind_counts_as_missing(
    database_url: str, db_kind: DbKind
) -> None:
    """PostgreSQL keeps the INVALID index of a failed ``CREATE INDEX CONCURRENTLY``: the guard
    drops it, so the re-run builds it again. Elsewhere a failed build leaves nothing."""
    engine = sa.create_engine(database_url, poolclass=NullPool, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn, Operations.context(MigrationContext.configure(conn)) as op:
            op.create_table("codes", sa.Column("code", sa.String(10)))
            op.bulk_insert(sa.table("codes", sa.column("code")), [{"code": "a"}, {"code": "a"}])
            with pytest.raises(sa.exc.IntegrityError):
                op.create_index(
                    "ix_codes_code", "codes", ["code"], unique=True, postgresql_concurrently=True
                )
            left = sa.inspect(conn).get_indexes("codes")
            assert [i["name"] for i in left] == (
                ["ix_codes_code"] if db_kind == "postgresql" else []
            )
            assert guards.index_missing("codes", "ix_codes_code")
            assert sa.inspect(conn).get_indexes("codes") == []
            assert not guards.index_exists("codes", "ix_codes_code")
    finally:
        engine.dispose()
