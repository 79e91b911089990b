"""SM306 nested-transaction: The migration begins, commits or rolls back a transaction itself."""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator

from flask_safemigrate.lint.helpers.functions import migration_functions
from flask_safemigrate.lint.helpers.labels import describe
from flask_safemigrate.lint.model import Migration, Rule, Violation
from flask_safemigrate.lint.registry import register
from flask_safemigrate.lint.sql import literal_sql, sql_argument, strip_sql_comments
from flask_safemigrate.report import Severity

_TRANSACTION_METHODS = frozenset({"begin", "commit", "rollback", "begin_nested"})
_TRANSACTION_SQL = re.compile(
    r"^\s*(?:COMMIT|ROLLBACK|BEGIN|START\s+TRANSACTION)(?:\s+(?:WORK|TRANSACTION))?\s*$",
    re.IGNORECASE,
)
_TRANSACTION_HINT = re.compile(
    r"\.(?:begin|commit|rollback|begin_nested)\b|\b(?:COMMIT|ROLLBACK|BEGIN|START)\b",
    re.IGNORECASE,
)
# Bodies of functions/DO blocks (`$$ ... $$`) and string literals, which hold `;` and `END`.
_SQL_QUOTED = re.compile(r"\$(\w*)\$.*?\$\1\$|'(?:[^']|'')*'", re.S)


def _transaction_statement(sql: str) -> str | None:
    """The transaction-control statement (``COMMIT``, ...) among the SQL's statements."""
    if sql.isascii():
        lowered = sql.lower()  # no keyword at all: the common case, settled without regexes
        if not any(word in lowered for word in ("commit", "rollback", "begin", "start")):
            return None
    for part in _SQL_QUOTED.sub("''", strip_sql_comments(sql)).split(";"):
        if _TRANSACTION_SQL.match(part):
            return " ".join(part.split()).upper()
    return None


@register
class NestedTransaction(Rule):
    """The migration begins, commits or rolls back a transaction itself.

    ## What it does
    Reports, inside `upgrade()`/`downgrade()`, calls to `.begin()`, `.commit()`,
    `.rollback()` and `.begin_nested()` on anything (the bind, a connection, a session), and
    SQL that runs `COMMIT`, `ROLLBACK`, `BEGIN` or `START TRANSACTION` through `op.execute()`
    or a connection (statements inside function bodies and string literals do not count).

    ## Why it matters
    Alembic already runs the migration inside its transaction and writes the new version in
    the same one. Committing in the middle splits the migration: a later failure rolls back
    only the second half, the version table is left behind, and a re-run hits objects that
    already exist. Starting a transaction on a connection that has one raises. The old
    `op.execute("COMMIT")` trick for `CREATE INDEX CONCURRENTLY` does the same damage.

    ## Example
    ```python
    def upgrade():
        op.execute("COMMIT")
        op.create_index("ix_users_email", "users", ["email"], postgresql_concurrently=True)
    ```

    ## Use instead
    ```python
    def upgrade():
        with op.get_context().autocommit_block():
            op.create_index(
                "ix_users_email", "users", ["email"], postgresql_concurrently=True
            )
    ```
    """

    code = "SM306"
    name = "nested-transaction"
    severity = Severity.ERROR
    fix = (
        "let Alembic manage the transaction; for statements that must run outside it use "
        "`with op.get_context().autocommit_block():`"
    )

    requires = (_TRANSACTION_METHODS | {"execute", "exec_driver_sql"},)

    def check(self, migration: Migration) -> Iterator[Violation]:
        found: list[Violation] = []
        for _, function in migration_functions(migration.tree):
            for node in migration.index.calls_in(function):
                if not isinstance(node, ast.Call) or not isinstance(node.func, ast.Attribute):
                    continue
                attr = node.func.attr
                if attr in _TRANSACTION_METHODS:
                    found.append(
                        Violation(
                            f"calls {describe(node.func)}() inside the migration, which "
                            "already runs in Alembic's transaction; this breaks its atomicity",
                            node=node,
                        )
                    )
                elif attr in {"execute", "exec_driver_sql"}:
                    sql = literal_sql(sql_argument(node))
                    statement = _transaction_statement(sql) if sql is not None else None
                    if statement is not None:
                        found.append(
                            Violation(
                                f"runs {statement} inside the migration, which already runs "
                                "in Alembic's transaction; this breaks its atomicity",
                                node=node,
                            )
                        )
        # The source must also mention a transaction; asked last, as the regex is the
        # slowest part and almost every script has nothing to report by now.
        if found and migration.mentions(_TRANSACTION_HINT, "begin", "commit", "rollback", "start"):
            yield from found
