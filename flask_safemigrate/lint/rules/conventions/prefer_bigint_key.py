"""SM406 prefer-bigint-key: a new table's integer primary key is 32-bit."""

from __future__ import annotations

from collections.abc import Iterator

from flask_safemigrate.lint.helpers.column_types import typed_columns
from flask_safemigrate.lint.helpers.facts import UP_EXECUTE
from flask_safemigrate.lint.index import op_facts
from flask_safemigrate.lint.model import Migration, Rule, Violation
from flask_safemigrate.lint.registry import register
from flask_safemigrate.report import Severity

# 32-bit (and smaller) integer types, as SQLAlchemy classes and as SQL words.
_SMALL_INTEGERS = frozenset(
    {
        "Integer", "SmallInteger", "INTEGER", "SMALLINT", "INT", "MEDIUMINT", "TINYINT",
        "INT4", "INT2", "SERIAL", "SMALLSERIAL", "SERIAL4", "SERIAL2",
    }
)  # fmt: skip


@register
class PreferBigintKey(Rule):
    """A new table gets a 32-bit integer primary key.

    ## What it does
    Reports a primary-key column typed `sa.Integer`/`sa.SmallInteger` (or `INTEGER`, `INT`,
    `SERIAL`, `SMALLINT` in literal SQL) in `op.create_table` or `CREATE TABLE` inside
    `upgrade()`, and such a primary key added to an existing table. Information only, for
    PostgreSQL and MySQL; SQLite's `INTEGER PRIMARY KEY` is already 64-bit (and `BIGINT` would
    stop it being the rowid). Off by default (select it with `--select prefer-bigint-key` or
    in `[tool.safemigrate.lint] select`): every Flask-SQLAlchemy model written as documented
    (`db.Integer, primary_key=True`) has one, and for a small lookup table it is fine.

    ## Why it matters
    A 32-bit key runs out at 2,147,483,647 (a sequence also burns values on rolled-back
    inserts). Changing the type later rewrites the table and every foreign key that points at
    it, under an exclusive lock: the outage a key of the right size at creation avoids, for
    4 more bytes a row.

    ## Example
    ```python
    def upgrade():
        op.create_table("events", sa.Column("id", sa.Integer(), primary_key=True))
    ```

    ## Use instead
    ```python
    def upgrade():
        op.create_table("events", sa.Column("id", sa.BigInteger(), primary_key=True))
    ```
    (in the model: `id = db.Column(db.BigInteger, primary_key=True)`).
    """

    code = "SM406"
    name = "prefer-bigint-key"
    severity = Severity.INFO
    default_enabled = False
    dialects = frozenset({"postgresql", "mysql"})
    fix = "use sa.BigInteger for primary keys of new tables"

    requires = (
        op_facts("create_table", "add_column", upgrade=True) | UP_EXECUTE,
        UP_EXECUTE | {"primary_key=True", "PrimaryKeyConstraint"},
    )

    def check(self, migration: Migration) -> Iterator[Violation]:
        for column in typed_columns(migration):
            if not column.primary_key or column.type_name.upper() not in {
                t.upper() for t in _SMALL_INTEGERS
            }:
                continue
            kind = column.sql_type or column.type_name
            article = "an" if kind[:1].upper() in "AEIOU" else "a"
            yield Violation(
                f"gives {column.label} {article} {kind} primary key (32 bits at most): it runs"
                " out at 2,147,483,647, and widening it later rewrites the table and its"
                " foreign keys",
                node=column.call.node,
            )
