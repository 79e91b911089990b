"""What a lint message claims a statement does, checked against the database it claims it of.

The message is what a reader acts on: "fails as soon as the table has rows" sent MariaDB users
looking for a failure that never comes (MariaDB fills the rows in), so the claim is tested on
each real database rather than written from memory.
"""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from alembic.migration import MigrationContext
from alembic.operations import Operations

from flask_safemigrate.database import dialect_of
from flask_safemigrate.lint.engine import LintConfig, lint
from flask_safemigrate.report import Finding
from tests.support.databases import engine_for
from tests.support.timing import TIMING

SCRIPT = '''"""add plan

Revision ID: a1
"""
import sqlalchemy as sa
from alembic import op

revision = "a1"
down_revision = None


def upgrade():
    op.add_column("accounts", sa.Column("plan", sa.String(20), nullable=False))


def downgrade():
    op.drop_column("accounts", "plan")
'''


def lint_one(database_url: str, script: Path, source: str, rule: str) -> tuple[str, Finding]:
    """The dialect of ``database_url`` and the one finding ``rule`` reports, for that dialect,
    on ``source`` written to ``script``."""
    dialect = dialect_of(database_url)
    assert dialect is not None
    script.write_text(source)
    (finding,) = lint([script], LintConfig(select=(rule,), dialect=dialect)).findings
    return dialect, finding


def test_add_not_null_column_message_says_what_the_database_does(
    database_url: str, tmp_path: Path
) -> None:
    dialect, finding = lint_one(
        database_url, tmp_path / "a1_add_plan.py", SCRIPT, "add-not-null-column-without-default"
    )

    with engine_for(database_url) as engine:
        with engine.begin() as conn:
            conn.exec_driver_sql("CREATE TABLE accounts (id INTEGER PRIMARY KEY)")
            conn.exec_driver_sql("INSERT INTO accounts (id) VALUES (1)")
        refused: Exception | None = None
        try:
            with engine.begin() as conn:
                conn.exec_driver_sql("ALTER TABLE accounts ADD COLUMN plan VARCHAR(20) NOT NULL")
        except sa.exc.DBAPIError as exc:
            refused = exc
        with engine.connect() as conn:
            columns = {c["name"] for c in sa.inspect(conn).get_columns("accounts")}
            filled = (
                conn.exec_driver_sql("SELECT plan FROM accounts").scalars().all()
                if "plan" in columns
                else None
            )

    if refused is not None:
        assert dialect in ("postgresql", "sqlite")
        assert "which fails as soon as the table has rows" in finding.message
        assert "MariaDB" not in finding.message
    else:
        assert dialect == "mysql"
        assert filled == [""]  # the implicit default of a VARCHAR, never written by the app
        assert "fails" not in finding.message
        assert "MariaDB/MySQL accept by filling the existing rows with an implicit 0, ''" in (
            finding.message
        )


def test_add_not_null_column_message_without_a_known_dialect_names_both_outcomes(
    tmp_path: Path,
) -> None:
    script = tmp_path / "a1_add_plan.py"
    script.write_text(SCRIPT)
    config = LintConfig(select=("add-not-null-column-without-default",))
    (finding,) = lint([script], config).findings
    assert "fails as soon as the table has rows on PostgreSQL and SQLite" in finding.message
    assert "MariaDB/MySQL accept by filling" in finding.message


GUARDLESS_ADD = '''"""add note

Revision ID: b1
"""
import sqlalchemy as sa
from alembic import op

revision = "b1"
down_revision = None


def upgrade():
    op.add_column("notes", sa.Column("body", sa.Text(), nullable=True))


def downgrade():
    pass
'''


def test_missing_existence_check_offers_if_not_exists_only_where_it_runs(
    database_url: str, tmp_path: Path
) -> None:
    """``or pass if_not_exists=True`` for a column was advice SQLite answers with a syntax
    error: the flag is offered for a dialect only where the flagged op runs (twice, the second
    time as a no-op), and where it is not offered, the flagged op indeed fails."""
    dialect = dialect_of(database_url)
    assert dialect is not None
    script = tmp_path / "b1_add_note.py"
    script.write_text(GUARDLESS_ADD)
    config = LintConfig(select=("missing-existence-check",), dialect=dialect)
    (finding,) = lint([script], config).findings
    assert finding.help is not None
    assert "guards.column_missing('notes', 'body')" in finding.help
    offered = "if_not_exists=True" in finding.help

    with engine_for(database_url) as engine:
        with engine.begin() as conn:
            conn.exec_driver_sql("CREATE TABLE notes (id INTEGER PRIMARY KEY)")
        failed: Exception | None = None
        try:
            for _ in range(2):  # a re-run of a half-applied migration
                with engine.begin() as conn:
                    Operations(MigrationContext.configure(conn)).add_column(
                        "notes", sa.Column("body", sa.Text(), nullable=True), if_not_exists=True
                    )
        except sa.exc.DBAPIError as exc:
            failed = exc
        with engine.connect() as conn:
            columns = {c["name"] for c in sa.inspect(conn).get_columns("notes")}

    if offered:
        assert failed is None and columns == {"id", "body"}
    else:
        assert dialect == "sqlite" and failed is not None and "syntax error" in str(failed)


SWALLOWED_CREATE = '''"""add a share token

Revision ID: a3
"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.exc import OperationalError, ProgrammingError

revision = "a3"
down_revision = None


def upgrade():
    try:
        op.add_column("shares", sa.Column("token", sa.String(64)))
    except (OperationalError, ProgrammingError):
        pass


def downgrade():
    op.drop_column("shares", "token")
'''


def _add_token(conn: sa.Connection) -> sa.exc.DBAPIError | None:
    """Alembic's add_column of shares.token on ``conn``; the database error it raised."""
    try:
        Operations(MigrationContext.configure(conn)).add_column(
            "shares", sa.Column("token", sa.String(64))
        )
    except sa.exc.DBAPIError as exc:
        return exc
    return None


@TIMING
def test_swallowed_create_warning_already_exists_shares_its_class_with_a_lock_timeout(
    database_url: str, tmp_path: Path
) -> None:
    """SM318 makes a create under only the database's error classes a warning: "already
    exists" (what the author expects on a re-run) is one of those classes, and so is a lock
    timeout, after which MariaDB/MySQL and SQLite carry on without the column (the revision
    would be stamped) and PostgreSQL's transaction is aborted."""
    dialect, finding = lint_one(
        database_url, tmp_path / "a3_add_share_token.py", SWALLOWED_CREATE, "swallowed-ddl-error"
    )
    assert str(finding.severity) == "warning"
    assert "other than the object being there already (a lock timeout)" in finding.message

    # The session that waits gives up quickly: SQLite's busy timeout, the servers' lock waits.
    waiter_args = {"timeout": 0.2} if dialect == "sqlite" else {}
    waiter = sa.create_engine(database_url, poolclass=sa.pool.NullPool, connect_args=waiter_args)
    try:
        with engine_for(database_url) as engine:
            with engine.begin() as conn:
                conn.exec_driver_sql("CREATE TABLE shares (id INTEGER PRIMARY KEY)")
            # A lock timeout: another session holds the table while add_column waits for it.
            with engine.connect() as holder:
                if dialect == "sqlite":
                    holder.exec_driver_sql("BEGIN IMMEDIATE")
                else:
                    holder.exec_driver_sql("SELECT * FROM shares").all()
                with waiter.connect() as conn:
                    if dialect == "postgresql":
                        conn.exec_driver_sql("SET lock_timeout = '300ms'")
                    elif dialect == "mysql":
                        conn.exec_driver_sql("SET SESSION lock_wait_timeout = 1")
                    timed_out = _add_token(conn)
                    try:
                        conn.exec_driver_sql("SELECT 1").all()
                        carried_on = True
                    except sa.exc.DBAPIError:
                        carried_on = False
                    conn.rollback()
                holder.rollback()
            # "Already exists": the column added, then added again.
            with engine.begin() as conn:
                assert _add_token(conn) is None
            with engine.begin() as conn:
                exists = _add_token(conn)
            with engine.connect() as conn:
                columns = {c["name"] for c in sa.inspect(conn).get_columns("shares")}
    finally:
        waiter.dispose()

    assert isinstance(timed_out, sa.exc.OperationalError), timed_out
    assert exists is not None
    assert type(exists).__name__ in {"OperationalError", "ProgrammingError"}, exists
    assert "token" in columns
    # After the swallowed lock timeout: MariaDB/MySQL and SQLite go on (the stamp would follow
    # with the column missing); PostgreSQL refuses every later statement of the transaction.
    assert carried_on is (dialect != "postgresql")
