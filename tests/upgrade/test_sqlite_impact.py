"""``--dry-run``'s impact on SQLite says what Alembic really does there.

``CREATE INDEX`` and ``ALTER TABLE ADD COLUMN`` run in place (``DROP COLUMN`` too, rewriting
every row, and ``DROP INDEX`` freeing the index's pages); a batch block copies its table only
when Alembic recreates it (``recreate="always"``, or with ``"auto"`` an operation
SQLite's ALTER cannot do, such as a column that brings a foreign key). Each case is one
revision: the dry run words it, then the revision is applied on the real database while
every statement SQLite receives is recorded, and the dry run's "copies the table" must match
whether Alembic created its ``_alembic_tmp_`` copy.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
import sqlalchemy as sa

from tests.support.apps import MakeApp
from tests.support.cli import invoke_json
from tests.support.databases import execute
from tests.support.revisions import revision_script, write_revision
from tests.upgrade.histories import REVISIONS, models, prepare, versions_of

pytestmark = pytest.mark.parametrize("db_kind", ["sqlite"], indirect=True)

#: revision -> (its upgrade(), whether Alembic copies the table for it on SQLite).
CASES: dict[str, tuple[str, bool]] = {
    "f1000000bidx": (
        """
        with op.batch_alter_table("widgets") as batch_op:
            batch_op.create_index("ix_widgets_name", ["name"])
        """,
        False,
    ),
    "f2000000bnew": (
        """
        with op.batch_alter_table("widgets") as batch_op:
            batch_op.add_column(sa.Column("plain", sa.Integer()))
        """,
        False,
    ),
    "f3000000alws": (
        """
        with op.batch_alter_table("widgets", recreate="always") as batch_op:
            batch_op.add_column(sa.Column("color", sa.String(20)))
        """,
        True,
    ),
    "f4000000bfk4": (
        """
        with op.batch_alter_table("widgets") as batch_op:
            batch_op.add_column(
                sa.Column("parent", sa.Integer(), sa.ForeignKey("widgets.id", name="fk_parent"))
            )
        """,
        True,
    ),
    "f5000000bsrv": (
        """
        with op.batch_alter_table("widgets") as batch_op:
            batch_op.add_column(
                sa.Column("seen", sa.Integer(), server_default=sa.text("0"), nullable=True)
            )
        """,
        True,
    ),
    "f6000000both": (
        """
        with op.batch_alter_table("widgets") as batch_op:
            batch_op.create_index("ix_widgets_plain", ["plain"])
            batch_op.alter_column("name", existing_type=sa.String(50), nullable=False)
        """,
        True,
    ),
    "f7000000padd": ('op.add_column("widgets", sa.Column("size", sa.Integer()))', False),
    # ALTER TABLE DROP COLUMN: no copy, but SQLite rewrites every row (not "brief").
    "f8000000pdrp": (
        'op.drop_column("widgets", "size")  # safemigrate: ignore[drop-column] -- test',
        False,
    ),
    "f9000000pdix": ('op.drop_index("ix_widgets_plain", table_name="widgets")', False),
    "fa000000pren": (
        'op.alter_column("widgets", "plain", new_column_name="flat")'
        "  # safemigrate: ignore[rename-column] -- test",
        False,
    ),
    # What `flask db migrate` writes for an index: batch_op.f() names it, and is no operation.
    "fb000000bfix": (
        """
        with op.batch_alter_table("widgets", schema=None) as batch_op:
            batch_op.create_index(batch_op.f("ix_widgets_flat"), ["flat"])
        """,
        False,
    ),
    # batch_op.execute() runs its SQL at once, outside the block's operations: no copy.
    "fc000000bexe": (
        """
        with op.batch_alter_table("widgets") as batch_op:
            batch_op.execute("UPDATE widgets SET flat = 0 WHERE flat IS NULL")
            batch_op.create_index("ix_widgets_name_flat", ["name", "flat"])
        """,
        False,
    ),
}


@contextmanager
def _statements() -> Iterator[list[str]]:
    """Every statement any engine sends while the block runs."""
    sent: list[str] = []

    def record(*args: Any) -> None:
        sent.append(str(args[2]))

    sa.event.listen(sa.engine.Engine, "before_cursor_execute", record)
    try:
        yield sent
    finally:
        sa.event.remove(sa.engine.Engine, "before_cursor_execute", record)


def test_dry_run_says_copy_exactly_when_alembic_copies(
    make_app: MakeApp, database_url: str
) -> None:
    app = make_app(database_url, models=models(), config={"SAFEMIGRATE_BACKUP": False})
    migrations = prepare(app, count=1)
    code, data, _ = invoke_json(app, "db", "safe-upgrade", "--no-verify", "--format", "json")
    assert code == 0, data
    down = REVISIONS[0]
    for rev, (upgrade, _) in CASES.items():
        write_revision(migrations, revision_script(rev, down, upgrade))
        down = rev
    execute(database_url, "INSERT INTO widgets (id, name) VALUES (1, 'a'), (2, 'b'), (3, 'c')")

    code, data, _ = invoke_json(app, "db", "safe-upgrade", "--dry-run", "--format", "json")
    assert code == 0, data
    impacts: dict[str, list[str]] = {}
    for statement in data["statements"]:
        assert statement["lock"] == "database write lock", statement
        impacts.setdefault(statement["revision"], []).append(statement["impact"])
    assert set(impacts) == set(CASES), impacts
    # Again, from the user's cache of unchanged scripts' statements: the same verdicts.
    code, again, _ = invoke_json(app, "db", "safe-upgrade", "--dry-run", "--format", "json")
    assert code == 0 and again["statements"] == data["statements"], again

    for rev, (_, copies) in CASES.items():
        said = {"copies the table" in impact for impact in impacts[rev]}
        assert said == {copies}, (rev, impacts[rev])
        with _statements() as sent:
            code, data, _ = invoke_json(
                app, "db", "safe-upgrade", "+1", "--skip-lint", "--no-verify", "--format", "json"
            )
        assert code == 0, data
        assert versions_of(database_url) == [rev]
        copied = any("_alembic_tmp_widgets" in statement for statement in sent)
        assert copied is copies, (rev, [s for s in sent if not s.startswith("SELECT")])

    # The wording: in place says so; a copy says why batch mode recreates the table.
    assert "builds the index in place" in impacts["f1000000bidx"][0]
    assert impacts["f2000000bnew"] == ["brief: ALTER TABLE ADD COLUMN changes the catalog only"]
    assert 'recreate="always"' in impacts["f3000000alws"][0]
    assert "foreign key" in impacts["f4000000bfk4"][0]
    assert "server default is a SQL expression" in impacts["f5000000bsrv"][0]
    assert all("alter_column needs it" in impact for impact in impacts["f6000000both"])
    assert impacts["f7000000padd"] == impacts["f2000000bnew"]
    (drop,) = impacts["f8000000pdrp"]
    assert drop.startswith("rewrites every row of the table") and "brief" not in drop
    (index,) = impacts["f9000000pdix"]
    assert index.startswith("frees every page of the index") and "brief" not in index
    assert impacts["fa000000pren"][0].startswith("brief if it only renames the column")
