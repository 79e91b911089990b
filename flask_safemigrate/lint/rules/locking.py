"""Lint rules: locking and zero-downtime (2xx).

These rules find operations that hold a lock on a live table for as long as they scan,
rewrite or index it - stopping the application's reads or writes for the duration - or that
fail outright on a table that has rows. They look at both ``upgrade()`` and ``downgrade()``:
a rollback runs against the same live tables. An operation on a table created earlier in
the same function is never flagged: the table is new, empty and unused.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator

from flask_safemigrate.lint.calls import Call, dotted, keyword, literal, nodes_below
from flask_safemigrate.lint.engine import Migration, Rule, Violation
from flask_safemigrate.lint.index import EXECUTE, op_facts
from flask_safemigrate.lint.rules import register
from flask_safemigrate.lint.rules.destructive import (
    IDENT,
    QNAME,
    Timeline,
    add_column_action,
    alter_table,
    column_label,
    direction_functions,
    execute_sql,
    ident,
    sql_statements,
    sql_text,
    table_label,
    timeline,
)
from flask_safemigrate.report import Severity

__all__ = [
    "AddCheckConstraintValidating",
    "AddForeignKeyValidating",
    "AddNotNullColumnWithoutDefault",
    "AddUniqueConstraint",
    "ConcurrentlyOutsideAutocommit",
    "CreateIndexNotConcurrently",
    "DropIndexNotConcurrently",
    "OffsetPagination",
    "SetNotNull",
    "VolatileDefaultOnExistingTable",
]

POSTGRESQL = frozenset({"postgresql"})
_RECEIVERS = frozenset({"op", "batch_op"})
_EXECUTE = op_facts("execute", receivers=EXECUTE)  # SQL that the rules read too


def _ops(migration: Migration, *names: str) -> Iterator[Call]:
    """The ``op.<name>``/``batch_op.<name>`` calls of both directions."""
    for call in migration.calls:
        if call.name in names and call.receiver in _RECEIVERS:
            yield call


def _added_columns(migration: Migration) -> list[tuple[Call, ast.Call]]:
    """``add_column`` calls with the ``sa.Column(...)`` they add (found once per script)."""

    def build() -> list[tuple[Call, ast.Call]]:
        found = []
        for call in _ops(migration, "add_column"):
            column = call.param("column")
            if isinstance(column, ast.Call) and (dotted(column.func) or "").endswith("Column"):
                found.append((call, column))
        return found

    return migration.shared("locking.added_columns", build)


def _alter_actions(migration: Migration, line: Timeline) -> list[tuple[Call, str, str]]:
    """``(call, table, action)`` for each ALTER TABLE action in literal SQL, on tables that
    were not created earlier in the function (found once per script)."""

    def build() -> tuple[Timeline, list[tuple[Call, str, str]]]:
        found = []
        for call in migration.calls:
            if call.name != "execute":
                continue
            for statement, created in line.statements(call):
                parsed = alter_table(statement)
                if parsed is not None and parsed[0] not in created:
                    for action in parsed[1]:
                        found.append((call, parsed[0], action))
        return line, found

    cached = migration.shared("locking.alter_actions", build)
    return cached[1] if cached[0] is line else build()[1]


def _keyword_is_set(call: Call, name: str) -> bool:
    """Whether ``name=True`` is passed, or passed as an expression we cannot read (in which
    case the author chose it deliberately and rules stay quiet)."""
    node = call.param(name)
    if node is None:
        return False
    value = literal(node)
    return value is True or not isinstance(value, bool | type(None))


def _column_arg(column: ast.Call, *names: str) -> ast.Call | None:
    """The first positional ``sa.ForeignKey(...)``/``sa.Identity(...)``-style argument."""
    for arg in column.args:
        if isinstance(arg, ast.Call) and (dotted(arg.func) or "").rsplit(".", 1)[-1] in names:
            return arg
    return None


_INTEGER_TYPES = frozenset(
    {"Integer", "BigInteger", "SmallInteger", "INTEGER", "BIGINT", "SMALLINT", "INT"}
)


def _autoincrements(column: ast.Call) -> bool:
    """Whether a primary-key column is an integer the database numbers itself (SQLAlchemy
    renders SERIAL / AUTO_INCREMENT for it)."""
    if literal(keyword(column, "autoincrement")) is False:
        return False
    types = [*column.args[1:2], *(kw.value for kw in column.keywords if kw.arg == "type_")]
    for node in types:
        target = node.func if isinstance(node, ast.Call) else node
        if (dotted(target) or "").rsplit(".", 1)[-1] in _INTEGER_TYPES:
            return True
    return False


def _column_name(column: ast.Call) -> str:
    value = literal(column.args[0]) if column.args else None
    return value if isinstance(value, str) else "?"


def _constraint_name(call: Call) -> str:
    value = literal(call.param("constraint_name"))
    return f" {value}" if isinstance(value, str) else ""


_NOT_VALID = re.compile(r"\bNOT VALID\b", re.IGNORECASE)


@register
class AddNotNullColumnWithoutDefault(Rule):
    """Adding a NOT NULL column without a server default to an existing table.

    ## What it does
    Flags `add_column` (on `op` and `batch_op`) of a `sa.Column(..., nullable=False)` - or a
    `primary_key=True` column, which is NOT NULL too - that has no `server_default=`, on a
    table not created earlier in the same function; and `ADD COLUMN ... NOT NULL` without
    `DEFAULT` in literal SQL. A Python-side `default=` does not count: the database never
    sees it. Identity and computed columns, and integer primary keys (which SQLAlchemy
    renders as `SERIAL`/`AUTO_INCREMENT`), are not flagged.

    ## Why it matters
    The existing rows have no value for the new column: PostgreSQL and SQLite refuse the
    statement as soon as the table has a row, so the migration passes on an empty
    development database and fails in production. MySQL instead fills the rows with an
    implicit `0`, `''` or zero date, which is rarely what was meant.

    ## Example
    ```python
    def upgrade():
        op.add_column("users", sa.Column("plan", sa.String(20), nullable=False))
    ```

    ## Use instead
    Add the column nullable, backfill it in batches, then set NOT NULL (see `set-not-null`);
    or give it a constant server default, which PostgreSQL 11+ and MySQL 8 add instantly:
    ```python
    def upgrade():
        op.add_column(
            "users",
            sa.Column("plan", sa.String(20), nullable=False, server_default="free"),
        )
    ```
    """

    code = "SM201"
    name = "add-not-null-column-without-default"
    fix = "add the column nullable (or with a server_default), backfill in batches, then NOT NULL"

    requires = (
        op_facts("add_column") | _EXECUTE,
        _EXECUTE | {"nullable=False", "primary_key=True"},
    )

    def check(self, migration: Migration) -> Iterator[Violation]:
        line = timeline(migration)
        for call, column in _added_columns(migration):
            if line.created(call):
                continue
            nullable = literal(keyword(column, "nullable"))
            primary_key = literal(keyword(column, "primary_key")) is True
            if not (nullable is False or (primary_key and nullable is not True)):
                continue
            server_default = keyword(column, "server_default")
            if server_default is not None and literal(server_default) is not None:
                continue
            if _column_arg(column, "Identity", "Computed", "Sequence") is not None:
                continue
            if primary_key and _autoincrements(column):
                continue
            python = " (its Python-side default= never reaches the database)"
            yield Violation(
                f"adds NOT NULL column {column_label(call, _column_name(column))} without a"
                " server default to an existing table, which fails as soon as the table has"
                f" rows{python if keyword(column, 'default') is not None else ''}",
                node=call.node,
            )
        for call, table, action in _alter_actions(migration, line):
            added = add_column_action(action)
            if added is None:
                continue
            name, definition = added
            if re.search(r"\b(?:NOT NULL|PRIMARY KEY)\b", definition, re.IGNORECASE) and not (
                re.search(
                    r"\b(?:DEFAULT|GENERATED|IDENTITY|AUTO_INCREMENT|SERIAL|BIGSERIAL"
                    r"|SMALLSERIAL)\b",
                    definition,
                    re.IGNORECASE,
                )
            ):
                yield Violation(
                    f"adds NOT NULL column {table}.{name} without a default in SQL to an"
                    " existing table, which fails as soon as the table has rows",
                    node=call.node,
                )


_SET_NOT_NULL = re.compile(rf"^ALTER (?:COLUMN )?({IDENT}) SET NOT NULL\b", re.IGNORECASE)


@register
class SetNotNull(Rule):
    """Making an existing column NOT NULL scans the whole table under an exclusive lock.

    ## What it does
    Flags `alter_column(..., nullable=False)` (on `op` and `batch_op`) and
    `ALTER COLUMN ... SET NOT NULL` in literal SQL, for a column that was not added earlier
    in the same function. Not flagged: `existing_nullable=False` (nothing changes), and a
    `SET NOT NULL` that follows, in the same function, the validation of a
    `CHECK (... IS NOT NULL)` constraint on that table - PostgreSQL 12+ then skips the scan.

    ## Why it matters
    PostgreSQL checks every row while holding `ACCESS EXCLUSIVE` on the table, so all reads
    and writes wait for a full scan; MySQL and SQLite rebuild the table. And the statement
    fails if a single NULL slipped in, for instance from servers still running the
    previous release.

    ## Example
    ```python
    def upgrade():
        op.alter_column("users", "email", existing_type=sa.String(255), nullable=False)
    ```

    ## Use instead
    On PostgreSQL, prove the constraint without the exclusive lock first:
    ```python
    def upgrade():
        op.execute(
            "ALTER TABLE users ADD CONSTRAINT users_email_not_null"
            " CHECK (email IS NOT NULL) NOT VALID"
        )
        op.execute("ALTER TABLE users VALIDATE CONSTRAINT users_email_not_null")
        op.alter_column("users", "email", existing_type=sa.String(255), nullable=False)
        op.drop_constraint("users_email_not_null", "users", type_="check")
    ```
    (The `VALIDATE` can also go in a separate migration.)
    """

    code = "SM202"
    name = "set-not-null"
    severity = Severity.WARNING
    fix = "PostgreSQL: add CHECK (col IS NOT NULL) NOT VALID, VALIDATE it, then SET NOT NULL"

    requires = (op_facts("alter_column") | _EXECUTE, _EXECUTE | {"nullable=False"})

    def check(self, migration: Migration) -> Iterator[Violation]:
        line = timeline(migration)
        for call in _ops(migration, "alter_column"):
            if call.value("nullable") is not False or call.value("existing_nullable") is False:
                continue
            table, column = call.table, call.column
            if line.added(call, table, column) or line.not_null_checked(call, table, column):
                continue
            yield Violation(
                f"sets {column_label(call)} NOT NULL, which scans the whole table under an"
                " exclusive lock and fails if any row holds NULL",
                node=call.node,
            )
        for call, table, action in _alter_actions(migration, line):
            match = _SET_NOT_NULL.match(action)
            if match is None:
                continue
            column = ident(match.group(1))
            if line.added(call, table, column) or line.not_null_checked(call, table, column):
                continue
            yield Violation(
                f"sets {table}.{column} NOT NULL in SQL, which scans the whole table under an"
                " exclusive lock and fails if any row holds NULL",
                node=call.node,
            )


_CREATE_INDEX = re.compile(
    rf"^CREATE (?:UNIQUE )?INDEX (CONCURRENTLY )?(?:IF NOT EXISTS )?(?:{QNAME} )?ON "
    rf"(?:ONLY )?({QNAME})",
    re.IGNORECASE,
)


@register
class CreateIndexNotConcurrently(Rule):
    """Creating an index on an existing PostgreSQL table without CONCURRENTLY blocks writes.

    ## What it does
    Flags `create_index` (on `op` and `batch_op`) without `postgresql_concurrently=True`,
    `add_column` of a `sa.Column(..., index=True)`, and `CREATE INDEX` without
    `CONCURRENTLY` in literal SQL - on a table not created earlier in the same function.
    Both `upgrade()` and `downgrade()` are checked: a downgrade that recreates a dropped
    index on a live table takes the same lock.

    ## Why it matters
    A plain `CREATE INDEX` holds a `SHARE` lock for the whole build: every INSERT, UPDATE
    and DELETE on the table waits, which on a large table means minutes of failing writes.

    ## Example
    ```python
    def upgrade():
        op.create_index("ix_orders_user_id", "orders", ["user_id"])
    ```

    ## Use instead
    Build it concurrently, outside the migration's transaction:
    ```python
    def upgrade():
        with op.get_context().autocommit_block():
            op.create_index(
                "ix_orders_user_id", "orders", ["user_id"], postgresql_concurrently=True
            )
    ```
    """

    code = "SM203"
    name = "create-index-not-concurrently"
    dialects = POSTGRESQL
    fix = "pass postgresql_concurrently=True inside `with op.get_context().autocommit_block():`"

    requires = (
        op_facts("create_index", "add_column") | _EXECUTE,
        op_facts("create_index") | _EXECUTE | {"index=True"},  # on an added column
    )

    def check(self, migration: Migration) -> Iterator[Violation]:
        line = timeline(migration)
        for call in _ops(migration, "create_index"):
            if line.created(call) or _keyword_is_set(call, "postgresql_concurrently"):
                continue
            name = literal(call.param("index_name"))
            label = f"index {name}" if isinstance(name, str) else "an index"
            yield Violation(
                f"creates {label} on {table_label(call)} without CONCURRENTLY, which blocks"
                " writes to the table until the index is built",
                node=call.node,
            )
        for call, column in _added_columns(migration):
            if literal(keyword(column, "index")) is True and not line.created(call):
                yield Violation(
                    f"adds column {column_label(call, _column_name(column))} with index=True,"
                    " which builds the index without CONCURRENTLY and blocks writes to the"
                    " table until it is done",
                    node=call.node,
                    help="add the column without index=True, then create the index"
                    " concurrently in an autocommit block",
                )
        for call in migration.calls:
            if call.name != "execute":
                continue
            for statement, created in line.statements(call):
                match = _CREATE_INDEX.match(statement)
                if (
                    match is not None
                    and not match.group(1)
                    and ident(match.group(2)) not in (created)
                ):
                    yield Violation(
                        f"creates an index on {ident(match.group(2))} in SQL without"
                        " CONCURRENTLY, which blocks writes to the table until it is built",
                        node=call.node,
                        help="use CREATE INDEX CONCURRENTLY inside"
                        " `with op.get_context().autocommit_block():`",
                    )


_DROP_INDEX = re.compile(r"^DROP INDEX (CONCURRENTLY )?", re.IGNORECASE)


@register
class DropIndexNotConcurrently(Rule):
    """Dropping an index on a PostgreSQL table without CONCURRENTLY can stall all queries.

    ## What it does
    Flags `drop_index` (on `op` and `batch_op`) without `postgresql_concurrently=True`, and
    `DROP INDEX` without `CONCURRENTLY` in literal SQL, in `upgrade()` and `downgrade()`.
    Not flagged when the table was created earlier in the same function, or when the same
    function drops the table or one of its columns anyway (the autogenerated downgrade of a
    `create_table` or of an indexed `add_column`), which takes the same lock.

    ## Why it matters
    A plain `DROP INDEX` needs `ACCESS EXCLUSIVE` on the table. The drop itself is quick, but
    it waits behind any long-running query on the table, and every query arriving after it
    queues behind the waiting drop: a slow report can turn into a full outage.

    ## Example
    ```python
    def upgrade():
        op.drop_index("ix_orders_status", table_name="orders")
    ```

    ## Use instead
    ```python
    def upgrade():
        with op.get_context().autocommit_block():
            op.drop_index(
                "ix_orders_status", table_name="orders", postgresql_concurrently=True
            )
    ```
    """

    code = "SM204"
    name = "drop-index-not-concurrently"
    severity = Severity.WARNING
    dialects = POSTGRESQL
    fix = "pass postgresql_concurrently=True inside `with op.get_context().autocommit_block():`"

    requires = (op_facts("drop_index") | _EXECUTE,)

    def check(self, migration: Migration) -> Iterator[Violation]:
        line = timeline(migration)
        # Dropping the table, or a column of it, in the same function takes the same lock
        # anyway (and takes the index with it): the index drop adds nothing.
        dropped = {
            (call.direction, ident(call.table))
            for call in migration.calls
            if call.name in {"drop_table", "drop_column"} and call.table is not None
        }
        for call in _ops(migration, "drop_index"):
            if _keyword_is_set(call, "postgresql_concurrently") or line.created(call):
                continue
            if call.table is not None and (call.direction, ident(call.table)) in dropped:
                continue
            name = literal(call.param("index_name"))
            label = f"index {name}" if isinstance(name, str) else "an index"
            where = f" on {table_label(call)}" if call.table is not None else ""
            yield Violation(
                f"drops {label}{where} without CONCURRENTLY, which takes an exclusive lock"
                " that queues every query on the table behind it",
                node=call.node,
            )
        for call in migration.calls:
            if call.name != "execute":
                continue
            for statement in sql_statements(execute_sql(call) or ""):
                match = _DROP_INDEX.match(statement)
                if match is not None and not match.group(1):
                    yield Violation(
                        "drops an index in SQL without CONCURRENTLY, which takes an exclusive"
                        " lock that queues every query on the table behind it",
                        node=call.node,
                        help="use DROP INDEX CONCURRENTLY inside"
                        " `with op.get_context().autocommit_block():`",
                    )


_CONCURRENT_SQL = re.compile(
    r"^(?:CREATE (?:UNIQUE )?INDEX CONCURRENTLY|DROP INDEX CONCURRENTLY"
    r"|REINDEX\b.*?\bCONCURRENTLY|ALTER TABLE\b.*?\bDETACH PARTITION\b.*?\bCONCURRENTLY)\b",
    re.IGNORECASE,
)


@register
class ConcurrentlyOutsideAutocommit(Rule):
    """A CONCURRENTLY operation inside the migration's transaction fails on PostgreSQL.

    ## What it does
    Flags `create_index`/`drop_index` with `postgresql_concurrently=True`, and
    `CREATE INDEX CONCURRENTLY`, `DROP INDEX CONCURRENTLY`, `REINDEX ... CONCURRENTLY` and
    `DETACH PARTITION ... CONCURRENTLY` in literal SQL, that are not inside
    `with op.get_context().autocommit_block():`.

    ## Why it matters
    Alembic runs each migration in a transaction on PostgreSQL, and these statements refuse
    to run in one ("cannot run inside a transaction block"): the migration fails at deploy
    time, after the statements before it.

    ## Example
    ```python
    def upgrade():
        op.create_index(
            "ix_orders_user_id", "orders", ["user_id"], postgresql_concurrently=True
        )
    ```

    ## Use instead
    ```python
    def upgrade():
        with op.get_context().autocommit_block():
            op.create_index(
                "ix_orders_user_id", "orders", ["user_id"], postgresql_concurrently=True
            )
    ```
    Keep the autocommit block to the concurrent statement alone, and make it safe to re-run
    (`if_not_exists=True`): if it fails, nothing rolls it back.
    """

    code = "SM205"
    name = "concurrently-outside-autocommit"
    dialects = POSTGRESQL
    fix = "wrap the statement in `with op.get_context().autocommit_block():`"

    requires = (
        op_facts("create_index", "drop_index") | _EXECUTE,
        _EXECUTE | {"postgresql_concurrently=True"},
    )

    def check(self, migration: Migration) -> Iterator[Violation]:
        for call in migration.calls:
            if call.autocommit:
                continue
            if call.name in {"create_index", "drop_index"} and call.flag("postgresql_concurrently"):
                verb = "creates" if call.name == "create_index" else "drops"
                yield Violation(
                    f"{verb} an index on {table_label(call)} concurrently inside the migration's"
                    " transaction, which PostgreSQL refuses",
                    node=call.node,
                )
            elif call.name == "execute":
                for statement in sql_statements(execute_sql(call) or ""):
                    match = _CONCURRENT_SQL.match(statement)
                    if match is not None:
                        what = match.group(0).upper()
                        what = what if len(what) <= 40 else what[:37] + "..."
                        yield Violation(
                            f"runs {what} inside the migration's transaction, which PostgreSQL"
                            " refuses",
                            node=call.node,
                        )


_ADD_FOREIGN_KEY = re.compile(rf"^ADD (?:CONSTRAINT ({IDENT}) )?FOREIGN KEY\b", re.IGNORECASE)


@register
class AddForeignKeyValidating(Rule):
    """Adding a foreign key to an existing PostgreSQL table validates it under a lock.

    ## What it does
    Flags `create_foreign_key` (on `op` and `batch_op`) on a source table not created earlier
    in the same function, without `postgresql_not_valid=True`; `add_column` of a column with
    a `sa.ForeignKey(...)` (Alembic adds the constraint right after the column); and
    `ADD [CONSTRAINT ...] FOREIGN KEY` without `NOT VALID`, or `ADD COLUMN ... REFERENCES`,
    in literal SQL.

    ## Why it matters
    Adding the constraint checks every existing row while holding `SHARE ROW EXCLUSIVE` on
    both tables: writes to the table and to the referenced table stop for the whole scan.

    ## Example
    ```python
    def upgrade():
        op.create_foreign_key("fk_orders_user", "orders", "users", ["user_id"], ["id"])
    ```

    ## Use instead
    Add the constraint without checking old rows (new rows are checked at once), then
    validate it in a later migration; validation only takes a lock that lets writes go on:
    ```python
    def upgrade():
        op.create_foreign_key(
            "fk_orders_user", "orders", "users", ["user_id"], ["id"],
            postgresql_not_valid=True,
        )

    # in the next migration:
    def upgrade():
        op.execute("ALTER TABLE orders VALIDATE CONSTRAINT fk_orders_user")
    ```
    """

    code = "SM206"
    name = "add-foreign-key-validating"
    dialects = POSTGRESQL
    fix = "add it with postgresql_not_valid=True, then VALIDATE CONSTRAINT in a later migration"

    requires = (
        op_facts("create_foreign_key", "add_column") | _EXECUTE,
        op_facts("create_foreign_key") | _EXECUTE | {"ForeignKey"},  # in an added column
    )

    def check(self, migration: Migration) -> Iterator[Violation]:
        line = timeline(migration)
        for call in _ops(migration, "create_foreign_key"):
            if line.created(call) or _keyword_is_set(call, "postgresql_not_valid"):
                continue
            referent = literal(call.param("referent_table"))
            other = f" and {referent}" if isinstance(referent, str) else ""
            source = table_label(call, "source_table")
            yield Violation(
                f"adds foreign key{_constraint_name(call)} on {source} and validates it at once,"
                f" which blocks writes to {source}{other} while every row is checked",
                node=call.node,
            )
        for call, column in _added_columns(migration):
            foreign_key = _column_arg(column, "ForeignKey")
            if foreign_key is None or line.created(call):
                continue
            if literal(keyword(foreign_key, "postgresql_not_valid")) is True:
                continue
            yield Violation(
                f"adds column {column_label(call, _column_name(column))} with a foreign key,"
                " which Alembic adds and validates at once, blocking writes to both tables"
                " while every row is checked",
                node=call.node,
                help="add the column without ForeignKey, then create_foreign_key(...,"
                " postgresql_not_valid=True) and VALIDATE CONSTRAINT later",
            )
        for call, table, action in _alter_actions(migration, line):
            added = add_column_action(action)
            references = added is not None and re.search(r"\bREFERENCES\b", added[1], re.IGNORECASE)
            if references or (_ADD_FOREIGN_KEY.match(action) and not _NOT_VALID.search(action)):
                yield Violation(
                    f"adds a foreign key on {table} in SQL and validates it at once, which"
                    " blocks writes to both tables while every row is checked",
                    node=call.node,
                    help="ADD CONSTRAINT ... FOREIGN KEY ... NOT VALID, then VALIDATE"
                    " CONSTRAINT in a later migration",
                )


_ADD_UNIQUE = re.compile(rf"^ADD (?:CONSTRAINT ({IDENT}) )?UNIQUE\b", re.IGNORECASE)
_USING_INDEX = re.compile(r"\bUSING INDEX\b", re.IGNORECASE)


@register
class AddUniqueConstraint(Rule):
    """Adding a unique constraint to an existing PostgreSQL table builds its index under a lock.

    ## What it does
    Flags `create_unique_constraint` (on `op` and `batch_op`) and `add_column` of a
    `sa.Column(..., unique=True)` on a table not created earlier in the same function, and
    `ADD [CONSTRAINT ...] UNIQUE (...)` in literal SQL unless it is `UNIQUE USING INDEX`.
    PostgreSQL only: MySQL (InnoDB) builds a unique index online, and SQLite rebuilds the
    table in batch mode anyway.

    ## Why it matters
    The constraint's unique index is built like a plain `CREATE INDEX`: writes to the table
    wait for the whole build. It also fails if duplicates already exist.

    ## Example
    ```python
    def upgrade():
        op.create_unique_constraint("uq_users_email", "users", ["email"])
    ```

    ## Use instead
    Build the index concurrently, then attach it as the constraint (a quick catalog change):
    ```python
    def upgrade():
        with op.get_context().autocommit_block():
            op.create_index(
                "uq_users_email", "users", ["email"], unique=True,
                postgresql_concurrently=True,
            )
        op.execute(
            "ALTER TABLE users ADD CONSTRAINT uq_users_email UNIQUE USING INDEX uq_users_email"
        )
    ```
    """

    code = "SM207"
    name = "add-unique-constraint"
    dialects = POSTGRESQL
    fix = (
        "CREATE UNIQUE INDEX CONCURRENTLY (autocommit block), then ADD CONSTRAINT ... UNIQUE"
        " USING INDEX"
    )

    requires = (
        op_facts("create_unique_constraint", "add_column") | _EXECUTE,
        op_facts("create_unique_constraint") | _EXECUTE | {"unique=True"},  # on an added column
    )

    def check(self, migration: Migration) -> Iterator[Violation]:
        line = timeline(migration)
        for call in _ops(migration, "create_unique_constraint"):
            if not line.created(call):
                yield Violation(
                    f"adds unique constraint{_constraint_name(call)} on {table_label(call)},"
                    " which builds its index while blocking writes to the table",
                    node=call.node,
                )
        for call, column in _added_columns(migration):
            if (
                literal(keyword(column, "unique")) is True
                and literal(keyword(column, "index")) is not True
                and not line.created(call)
            ):
                yield Violation(
                    f"adds column {column_label(call, _column_name(column))} with unique=True,"
                    " whose constraint builds its index while blocking writes to the table",
                    node=call.node,
                )
        for call, table, action in _alter_actions(migration, line):
            if _ADD_UNIQUE.match(action) and not _USING_INDEX.search(action):
                yield Violation(
                    f"adds a unique constraint on {table} in SQL, which builds its index while"
                    " blocking writes to the table",
                    node=call.node,
                )


_ADD_CHECK = re.compile(rf"^ADD (?:CONSTRAINT ({IDENT}) )?CHECK\b", re.IGNORECASE)


@register
class AddCheckConstraintValidating(Rule):
    """Adding a check constraint to an existing table scans it under a lock.

    ## What it does
    Flags `create_check_constraint` (on `op` and `batch_op`) on a table not created earlier
    in the same function, without `postgresql_not_valid=True`, and
    `ADD [CONSTRAINT ...] CHECK` without `NOT VALID` in literal SQL. When the lint dialect
    is MySQL or SQLite, which cannot skip the check, `postgresql_not_valid=True` does not
    silence it.

    ## Why it matters
    PostgreSQL checks every row while holding `ACCESS EXCLUSIVE`: reads and writes stop
    for a full scan. MySQL 8 copies the table to add a check; SQLite rebuilds it in batch
    mode.

    ## Example
    ```python
    def upgrade():
        op.create_check_constraint("ck_orders_total", "orders", "total >= 0")
    ```

    ## Use instead
    On PostgreSQL, add it without checking old rows, then validate it (which lets reads
    and writes go on) in a later migration:
    ```python
    def upgrade():
        op.create_check_constraint(
            "ck_orders_total", "orders", "total >= 0", postgresql_not_valid=True
        )

    # in the next migration:
    def upgrade():
        op.execute("ALTER TABLE orders VALIDATE CONSTRAINT ck_orders_total")
    ```
    On MySQL, run it in a quiet window or with an online schema-change tool.
    """

    code = "SM208"
    name = "add-check-constraint-validating"
    severity = Severity.WARNING
    fix = "add it with postgresql_not_valid=True, then VALIDATE CONSTRAINT in a later migration"

    requires = (op_facts("create_check_constraint") | _EXECUTE,)

    def check(self, migration: Migration) -> Iterator[Violation]:
        line = timeline(migration)
        postgresql = "postgresql" in migration.config.dialects
        help_text = (
            None
            if postgresql
            else (
                "this dialect always validates (MySQL copies the table): run it in a quiet window"
                " or with an online schema-change tool"
            )
        )
        for call in _ops(migration, "create_check_constraint"):
            if line.created(call):
                continue
            if postgresql and _keyword_is_set(call, "postgresql_not_valid"):
                continue
            yield Violation(
                f"adds check constraint{_constraint_name(call)} on {table_label(call)} and"
                " validates it at once, which scans the whole table while blocking writes",
                node=call.node,
                help=help_text,
            )
        for call, table, action in _alter_actions(migration, line):
            if _ADD_CHECK.match(action) and not (postgresql and _NOT_VALID.search(action)):
                yield Violation(
                    f"adds a check constraint on {table} in SQL and validates it at once, which"
                    " scans the whole table while blocking writes",
                    node=call.node,
                    help=help_text
                    or "ADD CONSTRAINT ... CHECK (...) NOT VALID, then VALIDATE CONSTRAINT later",
                )


# Functions evaluated per row (PostgreSQL VOLATILE, or non-deterministic on MySQL). now(),
# CURRENT_TIMESTAMP and friends are STABLE: PostgreSQL evaluates them once and adds the
# column without a rewrite, so they are not listed.
VOLATILE_FUNCTIONS = frozenset(
    {
        "clock_timestamp",
        "timeofday",
        "random",
        "random_normal",
        "rand",
        "gen_random_uuid",
        "gen_random_bytes",
        "uuid_generate_v1",
        "uuid_generate_v1mc",
        "uuid_generate_v4",
        "uuidv4",
        "uuidv7",
        "uuid",
        "uuid_short",
        "nextval",
        "sysdate",
        "newid",
    }
)
_FUNCTION_CALL = re.compile(r"\b([A-Za-z_][\w.]*)\s*\(")


def _volatile(node: ast.expr) -> str | None:
    """The volatile function a server default calls, if any.

    A plain string is a constant (SQLAlchemy quotes it); ``sa.text(...)``,
    ``sa.literal_column(...)`` and ``sa.func.<name>(...)`` are expressions.
    """
    for sub in nodes_below(node):
        if not isinstance(sub, ast.Call):
            continue
        name = dotted(sub.func) or ""
        head, _, attr = name.rpartition(".")
        if head.rpartition(".")[2] == "func" and attr.lower() in VOLATILE_FUNCTIONS:
            return attr.lower()
        if (attr or name) in {"text", "literal_column"} and sub.args:
            found = _volatile_in(sql_text(sub.args[0]) or "")
            if found is not None:
                return found
    return None


def _volatile_in(sql: str) -> str | None:
    for statement in sql_statements(sql) if sql else ():
        for match in _FUNCTION_CALL.finditer(statement):
            name = match.group(1).rsplit(".", 1)[-1].lower()
            if name in VOLATILE_FUNCTIONS:
                return name
    return None


_DEFAULT_EXPR = re.compile(r"\bDEFAULT\b(.*)$", re.IGNORECASE)


@register
class VolatileDefaultOnExistingTable(Rule):
    """Adding a column whose default is volatile rewrites the whole table.

    ## What it does
    Flags `add_column` (on `op` and `batch_op`) on a table not created earlier in the same
    function, whose `server_default` calls a volatile function - `clock_timestamp()`,
    `random()`, `gen_random_uuid()`, `uuid_generate_v4()`, `nextval()`, MySQL's `uuid()`,
    ... - written as `sa.func.gen_random_uuid()` or `sa.text("gen_random_uuid()")`; and
    `ADD COLUMN ... DEFAULT <volatile>` in literal SQL. Constant defaults (`"0"`,
    `sa.text("false")`, `sa.false()`) are fine, and so are `now()`/`CURRENT_TIMESTAMP`,
    which PostgreSQL evaluates once (they are stable, not volatile).

    ## Why it matters
    PostgreSQL 11+ adds a column with a constant default instantly, storing the value once.
    A volatile default must be computed for each existing row, so the table and its indexes
    are rewritten under `ACCESS EXCLUSIVE`; MySQL cannot add an expression default in place
    and copies the table; SQLite refuses a non-constant default in `ADD COLUMN`.

    ## Example
    ```python
    def upgrade():
        op.add_column(
            "orders",
            sa.Column("public_id", sa.Uuid(), server_default=sa.func.gen_random_uuid()),
        )
    ```

    ## Use instead
    Add the column without a default, then set the default (which only applies to new rows),
    and backfill the old rows in batches:
    ```python
    def upgrade():
        op.add_column("orders", sa.Column("public_id", sa.Uuid(), nullable=True))
        op.alter_column(
            "orders", "public_id", server_default=sa.text("gen_random_uuid()")
        )
        # then backfill: UPDATE orders SET public_id = gen_random_uuid()
        #                WHERE id BETWEEN :lo AND :hi AND public_id IS NULL
    ```
    """

    code = "SM209"
    name = "volatile-default-on-existing-table"
    fix = "add the column without a default, set the default separately, backfill in batches"

    requires = (op_facts("add_column") | _EXECUTE, _EXECUTE | {"server_default"})

    def check(self, migration: Migration) -> Iterator[Violation]:
        line = timeline(migration)
        for call, column in _added_columns(migration):
            server_default = keyword(column, "server_default")
            if server_default is None or line.created(call):
                continue
            function = _volatile(server_default)
            if function is not None:
                yield Violation(
                    f"adds column {column_label(call, _column_name(column))} with the volatile"
                    f" default {function}(), which rewrites the whole table under an exclusive"
                    " lock to fill the existing rows",
                    node=call.node,
                )
        for call, table, action in _alter_actions(migration, line):
            added = add_column_action(action)
            if added is None:
                continue
            default = _DEFAULT_EXPR.search(added[1])
            function = _volatile_in(default.group(1)) if default is not None else None
            if function is not None:
                yield Violation(
                    f"adds column {table}.{added[0]} in SQL with the volatile default"
                    f" {function}(), which rewrites the whole table under an exclusive lock",
                    node=call.node,
                )


_OFFSET = re.compile(r"\bOFFSET\b", re.IGNORECASE)
_MENTIONS_OFFSET = re.compile("offset", re.IGNORECASE)
# In a string that is not passed to execute() directly: a query (it starts like one and says
# FROM) whose OFFSET takes a number or a bind parameter - not prose that mentions offsets.
_QUERY_START = re.compile(r"^(?:SELECT|WITH|UPDATE|DELETE)\b.*\bFROM\b", re.IGNORECASE)
_QUERY_OFFSET = re.compile(r"\bOFFSET\s*(?:\d|:|%|\?|\$|\{|__expr__)", re.IGNORECASE)


@register
class OffsetPagination(Rule):
    """A data migration that pages with OFFSET slows down quadratically and can skip rows.

    ## What it does
    Flags, in `upgrade()` and `downgrade()`: `OFFSET` in the SQL of `op.execute` or
    `conn.execute`, in a SQL query string (one starting with `SELECT`, `WITH`, `UPDATE` or
    `DELETE`) anywhere in the function, and SQLAlchemy's `.offset(...)`.

    ## Why it matters
    To reach `OFFSET n` the database reads and throws away `n` rows, so paging through a
    table is quadratic: the last batches of a big backfill take longer than the rest
    together, while the migration holds its locks. If the loop updates or deletes the rows
    it pages over, they shift under the offset and rows are skipped or done twice.

    ## Example
    ```python
    def upgrade():
        conn = op.get_bind()
        offset = 0
        while True:
            rows = conn.execute(
                sa.text("SELECT id FROM users ORDER BY id LIMIT 1000 OFFSET :offset"),
                {"offset": offset},
            ).fetchall()
            if not rows:
                break
            offset += 1000
    ```

    ## Use instead
    Keyset pagination: remember the last key and start after it.
    ```python
    def upgrade():
        conn = op.get_bind()
        last = 0
        while True:
            rows = conn.execute(
                sa.text("SELECT id FROM users WHERE id > :last ORDER BY id LIMIT 1000"),
                {"last": last},
            ).fetchall()
            if not rows:
                break
            last = rows[-1].id
    ```
    """

    code = "SM210"
    name = "offset-pagination"
    severity = Severity.WARNING
    fix = "paginate by key instead: WHERE id > :last ORDER BY id LIMIT :n"

    def check(self, migration: Migration) -> Iterator[Violation]:
        if not migration.mentions(_MENTIONS_OFFSET, "offset"):
            return  # the cheap test first: most scripts never mention an offset
        reported: set[int] = set()
        for call in migration.calls:
            if call.name != "execute":
                continue
            sql_node = call.sql_node
            sql = execute_sql(call)
            if sql_node is None or sql is None:
                continue
            if any(_OFFSET.search(s) for s in sql_statements(sql)):
                reported.add(id(sql_node))
                yield Violation(
                    "pages through rows with OFFSET, which rescans every skipped row (quadratic"
                    " on a big table) and skips or repeats rows that change meanwhile",
                    node=call.node,
                )
        for function in direction_functions(migration):
            skip: set[int] = set(reported)
            for node in ast.walk(function):
                if id(node) in skip:
                    skip.update(id(child) for child in ast.iter_child_nodes(node))
                    continue
                if isinstance(node, ast.JoinedStr):
                    skip.update(id(child) for child in ast.iter_child_nodes(node))
                if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
                    if node.func.attr == "offset" and node.args:
                        yield Violation(
                            "pages through rows with .offset(), which rescans every skipped row"
                            " (quadratic on a big table) and skips or repeats rows that change"
                            " meanwhile",
                            node=node,
                        )
                elif isinstance(node, ast.Constant | ast.JoinedStr):
                    text = sql_text(node)
                    if text is None:
                        continue
                    statements = sql_statements(text)
                    if any(_QUERY_START.match(s) and _QUERY_OFFSET.search(s) for s in statements):
                        yield Violation(
                            "builds a query that pages with OFFSET, which rescans every skipped"
                            " row (quadratic on a big table) and skips or repeats rows that"
                            " change meanwhile",
                            node=node,
                        )
