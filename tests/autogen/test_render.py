"""The rewrite and its rendering, on hand-made op trees (no database: this is text).

What the generated scripts look like for cases the model scenarios do not reach: schemas,
``IF [NOT] EXISTS`` flags per dialect, unnamed constraints, block splitting and MySQL's order.
"""

from __future__ import annotations

import ast
import hashlib
import re
import textwrap
from typing import Any

import sqlalchemy as sa
from alembic.autogenerate import render_python_code
from alembic.operations import ops

from flask_safemigrate.autogen import naming
from flask_safemigrate.autogen.enums import EnumPlan
from flask_safemigrate.autogen.rewrite import Target, guard_container


def render(operations: list[ops.MigrateOperation], target: Target, render_item: Any = None) -> str:
    container = ops.UpgradeOps(operations)
    guard_container(container, target)
    guard_container(container, target)  # the hook may run again (multi-database): no-op
    code = render_python_code(container, render_as_batch=target.batch, render_item=render_item)
    compile(f"def upgrade():\n{textwrap.indent(code, '    ')}", "<script>", "exec")
    return code


def events_table() -> ops.CreateTableOp:
    return ops.CreateTableOp(
        "events", [sa.Column("id", sa.Integer, primary_key=True)], schema="audit"
    )


def events_changes() -> ops.ModifyTableOps:
    return ops.ModifyTableOps(
        "events",
        [
            ops.AddColumnOp("events", sa.Column("kind", sa.String(20)), schema="audit"),
            ops.CreateIndexOp("ix_events_kind", "events", ["kind"], schema="audit"),
            ops.DropConstraintOp("fk_events_user", "events", type_="foreignkey", schema="audit"),
        ],
        schema="audit",
    )


def test_schemas_and_postgresql_flags_outside_batch_blocks() -> None:
    code = render([events_table(), events_changes()], Target("postgresql", batch=False))
    assert "if guards.table_missing('events', schema='audit'):" in code
    assert "if guards.column_missing('events', 'kind', schema='audit'):" in code
    assert "if guards.index_missing('events', 'ix_events_kind', schema='audit'):" in code
    assert "if guards.foreign_key_exists('events', 'fk_events_user', schema='audit'):" in code
    assert "if_not_exists=True\n" in code  # create_table
    assert "schema='audit', if_not_exists=True)" in code  # add_column
    assert "unique=False, schema='audit', if_not_exists=True)" in code  # create_index
    assert "if_exists=True)" in code  # drop_constraint


def test_no_flags_inside_batch_blocks() -> None:
    """Alembic cannot pass them through a SQLite table rebuild; the guards do the work."""
    code = render([events_table(), events_changes()], Target("sqlite", batch=True))
    block = code.split("with op.batch_alter_table", 1)[1]
    assert "if_not_exists" not in block and "if_exists" not in block
    assert "        if guards.column_missing('events', 'kind', schema='audit'):" in code
    assert "            batch_op.add_column(" in code


def test_mysql_gets_table_flags_only() -> None:
    index = ops.CreateIndexOp("ix_t_a", "t", ["a"])
    code = render(
        [ops.CreateTableOp("t", [sa.Column("a", sa.Integer)]), index],
        Target("mysql", batch=False),
    )
    assert "        if_not_exists=True\n        )" in code
    assert "create_index('ix_t_a', 't', ['a'], unique=False)\n" in code


def test_a_batch_block_is_split_where_a_guard_must_see_an_earlier_op() -> None:
    """A changed index is dropped and re-created under one name: two blocks, two guards."""
    block = ops.ModifyTableOps(
        "posts",
        [
            ops.DropIndexOp("ix_posts_title", "posts"),
            ops.CreateIndexOp("ix_posts_title", "posts", ["title", "status"]),
            ops.AddColumnOp("posts", sa.Column("note", sa.Text())),
        ],
    )
    code = render([block], Target("sqlite", batch=True))
    assert code.count("with op.batch_alter_table('posts', schema=None) as batch_op:") == 2
    first, second = code.split("with op.batch_alter_table")[1:]
    assert "index_exists('posts', 'ix_posts_title')" in first
    assert "index_missing('posts', 'ix_posts_title')" in second
    assert "column_missing('posts', 'note')" in second


def test_unnamed_constraints() -> None:
    block = ops.ModifyTableOps(
        "items",
        [
            ops.CreateUniqueConstraintOp(None, "items", ["code", "kind"]),
            ops.CreateForeignKeyOp(None, "items", "users", ["owner_id"], ["id"]),
            ops.CreateCheckConstraintOp(None, "items", "code <> ''"),
        ],
    )
    code = render([block], Target("sqlite", batch=True))
    assert "if guards.unique_missing('items', 'uq_items_code_kind'):" in code
    assert "if guards.foreign_key_missing('items', 'fk_items_owner_id_users'):" in code
    # A condition has no short name: a hash of it names the check.
    assert "if guards.check_missing('items', 'ck_items_" in code
    assert "(None" not in code


def test_names_longer_than_the_database_allows_are_hash_truncated() -> None:
    table = "t" * 40
    block = ops.ModifyTableOps(
        table,
        [
            ops.CreateUniqueConstraintOp(None, table, ["a_rather_long_column_name"]),
            ops.CreateIndexOp("ix_" + "i" * 70, table, ["a"]),
        ],
    )
    names = {}
    for dialect, limit in (("postgresql", 63), ("mysql", 64)):
        code = render([block], Target(dialect, batch=True))
        found = re.findall(r"(?:uq|ix)_\w+", code)
        assert found and all(len(name) <= limit for name in found), code
        names[dialect] = found
    # SQLAlchemy's own scheme: so create_all() and the next autogenerate agree.
    full = f"uq_{table}_a_rather_long_column_name"
    digest = hashlib.md5(full.encode()).hexdigest()[-4:]
    assert f"{full[:55]}_{digest}" in names["postgresql"]
    assert naming.fit(full, "sqlite") == full


def test_mysql_drops_foreign_keys_before_indexes_and_skips_index_drops_of_dropped_tables() -> None:
    block = ops.ModifyTableOps(
        "posts",
        [
            ops.DropIndexOp("ix_posts_reviewer_id", "posts"),
            ops.DropColumnOp("posts", "note"),
            ops.DropConstraintOp("fk_posts_reviewer", "posts", type_="foreignkey"),
        ],
    )
    dropped = ops.ModifyTableOps("tags", [ops.DropIndexOp("ix_tags_name", "tags")])
    code = render([block, dropped, ops.DropTableOp("tags")], Target("mysql", batch=True))
    assert code.index("fk_posts_reviewer") < code.index("ix_posts_reviewer_id")
    assert code.index("ix_posts_reviewer_id") < code.index("drop_column('note')")
    assert "ix_tags_name" not in code
    assert "if guards.table_exists('tags'):\n        op.drop_table('tags', if_exists=True)" in code


def test_removed_tables_are_dropped_before_the_tables_they_reference() -> None:
    """Alembic lists removed tables in set order; the script drops dependents first."""
    metadata = sa.MetaData()
    tags = sa.Table("tags", metadata, sa.Column("id", sa.Integer, primary_key=True))
    links = sa.Table(
        "post_tags",
        metadata,
        sa.Column("tag_id", sa.Integer, sa.ForeignKey("tags.id")),
        sa.Index("ix_post_tags_tag_id", "tag_id"),
    )
    code = render(
        [
            ops.DropTableOp.from_table(tags),
            ops.ModifyTableOps("post_tags", [ops.DropIndexOp("ix_post_tags_tag_id", "post_tags")]),
            ops.DropTableOp.from_table(links),
            ops.AddColumnOp("users", sa.Column("bio", sa.Text())),
        ],
        Target("postgresql", batch=True),
    )
    assert (
        code.index("drop_table('post_tags'")
        < code.index("drop_table('tags'")
        < code.index("add_column('users'")
    )
    # Dropping post_tags takes its index along: no drop_index first (MariaDB refuses one a
    # foreign key needs), on every dialect.
    assert "ix_post_tags_tag_id" not in code


def test_created_tables_come_after_the_tables_they_reference() -> None:
    """A downgrade re-creates removed tables in the reverse of Alembic's (set) order."""
    metadata = sa.MetaData()
    tags = sa.Table("tags", metadata, sa.Column("id", sa.Integer, primary_key=True))
    links = sa.Table(
        "post_tags", metadata, sa.Column("tag_id", sa.Integer, sa.ForeignKey("tags.id"))
    )
    code = render(
        [
            ops.CreateTableOp.from_table(links),
            ops.ModifyTableOps(
                "post_tags", [ops.CreateIndexOp("ix_post_tags_tag_id", "post_tags", ["tag_id"])]
            ),
            ops.CreateTableOp.from_table(tags),
        ],
        Target("mysql", batch=True),
    )
    assert (
        code.index("create_table('tags'")
        < code.index("create_table('post_tags'")
        < code.index("ix_post_tags_tag_id")
    )


def posts_with_status() -> tuple[ops.CreateTableOp, sa.Enum]:
    status = sa.Enum("draft", "published", name="post_status", schema="blog")
    columns = [sa.Column("id", sa.Integer, primary_key=True), sa.Column("status", status)]
    return ops.CreateTableOp("posts", columns, schema="blog"), status


POSTGRESQL_NEW_ENUM = Target(
    "postgresql", batch=False, enums=EnumPlan(before=set(), after={("blog", "post_status")})
)


def status_column_type(code: str) -> tuple[str, list[object], dict[str, object]]:
    """The rendered ``sa.Column('status', <type>, ...)``'s type: callee, arguments, keywords."""
    tree = ast.parse(f"def upgrade():\n{textwrap.indent(code, '    ')}")
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Call)
            and ast.unparse(node.func) == "sa.Column"
            and ast.literal_eval(node.args[0]) == "status"
        ):
            type_ = node.args[1]
            assert isinstance(type_, ast.Call)
            keywords = {k.arg: ast.literal_eval(k.value) for k in type_.keywords if k.arg}
            return ast.unparse(type_.func), [ast.literal_eval(a) for a in type_.args], keywords
    raise AssertionError(f"no status column in:\n{code}")


UNCREATED_STATUS = (
    "postgresql.ENUM",
    ["draft", "published"],
    {"name": "post_status", "schema": "blog", "create_type": False},
)


def test_a_created_tables_enum_column_leaves_the_type_to_its_own_guarded_create() -> None:
    """As ``postgresql.ENUM(..., create_type=False)``, never ``sa.Enum(..., create_type=False)``:
    SQLAlchemy 2.0's generic ``Enum`` takes ``create_type`` and ignores it, so that script's
    ``create_table`` ran ``CREATE TYPE`` again after the guarded create and failed on 'type
    "post_status" already exists'. ``postgresql.ENUM`` honours the flag on 2.0 and 2.1, and
    SQLAlchemy 2.0's ``repr`` of it leaves the flag out: the renderer writes it."""
    table, status = posts_with_status()
    code = render([table], POSTGRESQL_NEW_ENUM)
    create_type, create_table = code.index("if guards.enum_missing("), code.index("create_table(")
    assert create_type < create_table
    assert (
        "if guards.enum_missing('post_status', schema='blog'):\n"
        "        sa.Enum('draft', 'published', name='post_status', schema='blog')"
        ".create(op.get_bind(), checkfirst=False)"
    ) in code
    assert status_column_type(code) == UNCREATED_STATUS
    assert code.count("create_type=False") == 1
    assert type(status) is sa.Enum  # the models' column keeps its own type


def test_an_apps_render_item_still_goes_first_around_the_enum_flag() -> None:
    """``env.py``'s ``render_item`` renders what it claims; the flag is kept for the rest."""
    seen: list[str] = []

    def app_render_item(kind: str, obj: object, context: object) -> str | bool:
        seen.append(kind)
        if kind == "type" and isinstance(obj, sa.Integer):
            return "MyInteger()"
        return False

    table, _status = posts_with_status()
    code = render([table], POSTGRESQL_NEW_ENUM, render_item=app_render_item)
    assert "sa.Column('id', MyInteger(), nullable=False)" in code
    assert status_column_type(code) == UNCREATED_STATUS
    assert seen.count("type") == 2  # asked for both columns, the enum included
