"""A batch block generated against PostgreSQL or MySQL still runs on SQLite.

Flask-Migrate renders batch blocks so that one script runs on SQLite too (the pytest plugin's
scratch database, a laptop). SQLite runs a block that drops a column as a table rebuild,
which refuses ``if_exists``/``if_not_exists`` with a TypeError: the rewrite gives an index op
in a batch block those flags only where SQLite would run the block in place.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.autogenerate import render_python_code
from alembic.operations import Operations, ops
from alembic.runtime.migration import MigrationContext

from flask_safemigrate import guards
from flask_safemigrate.autogen.rewrite import Target, guard_container


def downgrade_of_an_indexed_column(dialect: str) -> str:
    """What autogenerate's downgrade holds after ``slug = Column(String, index=True)`` was
    added to ``posts``: drop the index, then the column, in one batch block."""
    block = ops.ModifyTableOps(
        "posts",
        [ops.DropIndexOp("ix_posts_slug", "posts"), ops.DropColumnOp("posts", "slug")],
    )
    container = ops.UpgradeOps([block])
    guard_container(container, Target(dialect, batch=True))
    return render_python_code(container, render_as_batch=True)


@pytest.mark.parametrize("dialect", ["postgresql", "mysql", "sqlite"])
def test_a_block_that_rebuilds_on_sqlite_runs_there(dialect: str, tmp_path: Path) -> None:
    code = downgrade_of_an_indexed_column(dialect)
    assert "if_exists" not in code
    assert "if guards.index_exists('posts', 'ix_posts_slug'):" in code
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'app.db'}")
    with engine.begin() as connection:
        connection.exec_driver_sql("CREATE TABLE posts (id INTEGER PRIMARY KEY, slug VARCHAR(100))")
        connection.exec_driver_sql("CREATE INDEX ix_posts_slug ON posts (slug)")
        with Operations.context(MigrationContext.configure(connection)) as op:
            exec(  # the rendered downgrade, as the script runs it
                f"def downgrade():\n{textwrap.indent(code, '    ')}\ndowngrade()",
                {"op": op, "sa": sa, "guards": guards},
            )
        inspector = sa.inspect(connection)
        assert [c["name"] for c in inspector.get_columns("posts")] == ["id"]
        assert inspector.get_indexes("posts") == []
    engine.dispose()


def test_a_block_of_index_ops_alone_keeps_its_flags_for_sql_output() -> None:
    """SQLite runs index ops in a batch block as plain statements: the flags stay."""
    block = ops.ModifyTableOps("posts", [ops.DropIndexOp("ix_posts_slug", "posts")])
    container = ops.UpgradeOps([block])
    guard_container(container, Target("sqlite", batch=True))
    code = render_python_code(container, render_as_batch=True)
    assert "batch_op.drop_index('ix_posts_slug', if_exists=True)" in code
