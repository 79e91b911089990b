"""Branch-conflict detection, read statically from the scripts (no app, no database)."""

from __future__ import annotations

from pathlib import Path

import pytest

from flask_safemigrate import history, merge
from tests.support.merge import ROOT, rev, root

A, B, C = "b1b1b1b1b1b1", "c2c2c2c2c2c2", "d3d3d3d3d3d3"


@pytest.fixture
def migrations(tmp_path: Path) -> Path:
    directory = tmp_path / "migrations"
    root(directory)
    return directory


def two_branches(migrations: Path, left: str, right: str) -> merge.Plan:
    rev(migrations, A, ROOT, left, message="left")
    rev(migrations, B, ROOT, right, message="right")
    return merge.plan_merge(migrations)


def summary(plan: merge.Plan) -> list[tuple[str, str, list[str]]]:
    return [(c.kind, c.object, c.revisions) for c in plan.conflicts]


def test_same_column_altered_and_dropped(migrations: Path) -> None:
    plan = two_branches(
        migrations,
        """
        with op.batch_alter_table("users") as batch_op:
            batch_op.alter_column("email", type_=sa.String(length=200))
        """,
        'op.drop_column("users", "email")',
    )
    assert plan.heads == (A, B)
    (conflict,) = plan.conflicts
    assert (conflict.kind, conflict.object) == ("column", "users.email")
    left, right = conflict.sides
    assert (left.head, [c.revision for c in left.changes]) == (A, [A])
    assert (right.head, [c.revision for c in right.changes]) == (B, [B])
    assert left.changes[0].operations == ("alter_column",)
    assert right.changes[0].operations == ("drop_column",)
    assert left.changes[0].message == "left"
    assert left.changes[0].path.name == f"{A}_test.py"
    assert left.changes[0].line == 16  # the alter_column line


def test_names_compare_without_case(migrations: Path) -> None:
    plan = two_branches(
        migrations,
        'op.alter_column("Users", "EMAIL", nullable=False)',
        'op.drop_column("users", "email")',
    )
    assert summary(plan) == [("column", "users.email", [A, B])]


def test_different_columns_of_one_table_do_not_conflict(migrations: Path) -> None:
    plan = two_branches(
        migrations,
        'op.add_column("users", sa.Column("name", sa.String(50)))',
        """
        op.add_column("users", sa.Column("age", sa.Integer()))
        op.create_index("ix_users_email", "users", ["email"])
        """,
    )
    assert (plan.heads, plan.conflicts) == ((A, B), ())


def test_two_indexes_on_one_column_do_not_conflict(migrations: Path) -> None:
    plan = two_branches(
        migrations,
        'op.create_index("ix_users_email", "users", ["email"])',
        'op.create_unique_constraint("uq_users_email", "users", ["email"])',
    )
    assert plan.conflicts == ()


def test_index_on_a_column_the_other_branch_alters(migrations: Path) -> None:
    plan = two_branches(
        migrations,
        'op.create_index("ix_users_email", "users", ["email"])',
        'op.alter_column("users", "email", new_column_name="mail")',
    )
    assert summary(plan) == [("column", "users.email", [A, B])]


def test_same_index_name_on_different_tables(migrations: Path) -> None:
    plan = two_branches(
        migrations,
        'op.create_index("ix_lookup", "users", ["email"])',
        """
        op.create_table("items", sa.Column("id", sa.Integer(), primary_key=True))
        op.create_index(op.f("ix_lookup"), "items", ["id"])
        """,
    )
    assert summary(plan) == [("index", "ix_lookup", [A, B])]


def test_same_constraint_name(migrations: Path) -> None:
    plan = two_branches(
        migrations,
        'op.create_unique_constraint("uq_email", "users", ["email"])',
        """
        op.create_table(
            "people",
            sa.Column("id", sa.Integer(), primary_key=True),
            sa.Column("email", sa.String(50)),
            sa.UniqueConstraint("email", name="uq_email"),
        )
        """,
    )
    assert summary(plan) == [("constraint", "uq_email", [A, B])]


def test_same_table_created_twice_is_one_conflict(migrations: Path) -> None:
    plan = two_branches(
        migrations,
        'op.create_table("tags", sa.Column("id", sa.Integer(), primary_key=True))',
        """
        op.create_table("tags", sa.Column("id", sa.Integer(), primary_key=True))
        op.add_column("tags", sa.Column("name", sa.String(20)))
        """,
    )
    assert summary(plan) == [("table-created", "tags", [A, B])]


def test_dropped_table_used_by_the_other_branch(migrations: Path) -> None:
    plan = two_branches(
        migrations,
        'op.drop_table("users")',
        """
        op.create_table(
            "items",
            sa.Column("id", sa.Integer(), primary_key=True),
            sa.Column("user_id", sa.Integer(), sa.ForeignKey("users.id")),
        )
        """,
    )
    assert summary(plan) == [("table-dropped", "users", [A, B])]


def test_renamed_table_altered_by_the_other_branch(migrations: Path) -> None:
    plan = two_branches(
        migrations,
        'op.rename_table("users", "accounts")',
        'op.add_column("users", sa.Column("age", sa.Integer()))',
    )
    assert summary(plan) == [("table-dropped", "users", [A, B])]


def test_raw_sql_is_read(migrations: Path) -> None:
    plan = two_branches(
        migrations,
        """
        op.execute("ALTER TABLE users ADD COLUMN nickname VARCHAR(20)")
        op.execute(sa.text('CREATE TABLE "Audit" (id INTEGER PRIMARY KEY)'))
        op.execute("CREATE INDEX ix_users_email ON users (email)")
        """,
        """
        op.add_column("users", sa.Column("nickname", sa.String(30)))
        op.create_table("audit", sa.Column("id", sa.Integer(), primary_key=True))
        op.create_index("ix_users_email", "users", ["email"])
        """,
    )
    assert sorted(summary(plan)) == [
        ("column", "users.nickname", [A, B]),
        ("index", "ix_users_email", [A, B]),
        ("table-created", "audit", [A, B]),
    ]
    operations = {c.sides[0].changes[0].operations for c in plan.conflicts}
    assert operations == {("execute (SQL)",)}


def test_raw_sql_alter_table_actions(migrations: Path) -> None:
    plan = two_branches(
        migrations,
        """
        op.execute(
            "ALTER TABLE users RENAME COLUMN email TO mail, ADD CONSTRAINT ck_age CHECK (1 = 1);"
            " DROP INDEX IF EXISTS ix_old"
        )
        """,
        """
        op.create_check_constraint("ck_age", "users", "1 = 1")
        op.drop_index("ix_old", table_name="users")
        op.alter_column("users", "email", nullable=False)
        """,
    )
    assert sorted(summary(plan)) == [
        ("column", "users.email", [A, B]),
        ("constraint", "ck_age", [A, B]),
        ("index", "ix_old", [A, B]),
    ]


def test_sql_built_at_run_time_is_listed_as_unchecked(migrations: Path) -> None:
    plan = two_branches(
        migrations,
        """
        statement = "ALTER TABLE users DROP COLUMN email"
        op.execute(statement)
        """,
        'op.add_column("users", sa.Column("age", sa.Integer()))',
    )
    assert plan.conflicts == ()
    (note,) = plan.notes
    assert note.startswith(f"{A} (") and "built at run time" in note


def test_one_head_is_nothing_to_compare(migrations: Path) -> None:
    rev(migrations, A, ROOT, 'op.drop_column("users", "email")')
    plan = merge.plan_merge(migrations)
    assert (plan.heads, plan.conflicts, plan.notes) == ((A,), (), ())


def test_branches_of_several_revisions(migrations: Path) -> None:
    rev(migrations, A, ROOT, 'op.add_column("users", sa.Column("age", sa.Integer()))')
    rev(migrations, C, A, 'op.alter_column("users", "email", nullable=False)')
    rev(migrations, "e4e4e4e4e4e4", C, 'op.alter_column("users", "email", comment="x")')
    rev(migrations, B, ROOT, 'op.alter_column("users", "email", type_=sa.Text())')
    plan = merge.plan_merge(migrations)
    (conflict,) = plan.conflicts
    assert plan.heads == (B, "e4e4e4e4e4e4")
    short, long = conflict.sides
    assert (short.head, [c.revision for c in short.changes]) == (B, [B])
    # only the revisions that touch the column, in upgrade order
    assert (long.head, [c.revision for c in long.changes]) == ("e4e4e4e4e4e4", [C, "e4e4e4e4e4e4"])


def test_three_heads_compared_pairwise(migrations: Path) -> None:
    rev(migrations, A, ROOT, 'op.add_column("users", sa.Column("age", sa.Integer()))')
    rev(migrations, B, ROOT, 'op.create_table("tags", sa.Column("id", sa.Integer()))')
    rev(migrations, C, ROOT, 'op.add_column("users", sa.Column("age", sa.SmallInteger()))')
    plan = merge.plan_merge(migrations)
    assert plan.heads == (A, B, C)
    (conflict,) = plan.conflicts
    assert (conflict.kind, conflict.object) == ("column", "users.age")
    assert [side.head for side in conflict.sides] == [A, C]


def test_a_merged_conflict_is_not_reported_again(migrations: Path) -> None:
    """Two branches that were merged already diverge again: only the new branches count."""
    rev(migrations, A, ROOT, 'op.alter_column("users", "email", nullable=False)')
    rev(migrations, B, ROOT, 'op.alter_column("users", "email", type_=sa.Text())')
    rev(migrations, "m0m0m0m0m0m0", (A, B), message="merge")
    rev(migrations, C, "m0m0m0m0m0m0", 'op.alter_column("users", "email", comment="c")')
    rev(
        migrations,
        "f5f5f5f5f5f5",
        "m0m0m0m0m0m0",
        'op.add_column("users", sa.Column("n", sa.Text()))',
    )
    plan = merge.plan_merge(migrations)
    assert plan.heads == (C, "f5f5f5f5f5f5")
    assert plan.conflicts == ()


def test_a_branch_off_a_merged_branch_still_meets_the_other_side(migrations: Path) -> None:
    """After merging A and B, a new branch off B collides with A, which it never met."""
    rev(migrations, A, ROOT, 'op.alter_column("users", "email", nullable=False)')
    rev(migrations, B, ROOT, 'op.add_column("users", sa.Column("age", sa.Integer()))')
    rev(migrations, "m0m0m0m0m0m0", (A, B), message="merge")
    rev(migrations, C, B, 'op.drop_column("users", "email")')
    plan = merge.plan_merge(migrations)
    assert plan.heads == (C, "m0m0m0m0m0m0")
    assert summary(plan) == [("column", "users.email", [C, A])]


def test_find_conflicts_on_a_graph(migrations: Path) -> None:
    rev(migrations, A, ROOT, 'op.drop_column("users", "email")')
    rev(migrations, B, ROOT, 'op.drop_column("users", "email")')
    graph = history.load_graph([migrations / "versions"])
    conflicts, notes = merge.find_conflicts(graph)
    assert [(c.kind, c.object) for c in conflicts] == [("column", "users.email")]
    assert notes == []
    assert conflicts[0].to_dict()["branches"][1]["revisions"][0]["operations"] == ["drop_column"]
