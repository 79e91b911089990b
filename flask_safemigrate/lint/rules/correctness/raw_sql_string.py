"""SM305 raw-sql-string: A plain string is passed to a connection's `execute()`."""

from __future__ import annotations

from collections.abc import Iterator

from flask_safemigrate.lint.helpers.bindings import Bindings, is_str_expr
from flask_safemigrate.lint.helpers.functions import calls_by_function
from flask_safemigrate.lint.helpers.labels import describe
from flask_safemigrate.lint.helpers.sqlalchemy_pin import removed_in_2
from flask_safemigrate.lint.index import op_fact
from flask_safemigrate.lint.model import Migration, Rule, Violation
from flask_safemigrate.lint.registry import register
from flask_safemigrate.lint.sql import sql_argument
from flask_safemigrate.report import Severity


@register
class RawSqlString(Rule):
    """A plain string is passed to a connection's `execute()`.

    ## What it does
    Reports `conn.execute(...)` / `op.get_bind().execute(...)` whose statement is a Python
    string: a literal, an f-string, a `%`/`.format()` result, a concatenation, or a variable
    holding one. `op.execute("...")` is not reported: Alembic accepts strings there.

    ## Why it matters
    SQLAlchemy 2 no longer executes strings on a connection: the call raises
    `ObjectNotExecutableError`, so the migration fails when it runs (often first in
    production, if the code path was never exercised). On a project that still runs
    SQLAlchemy 1.x (the `sqlalchemy` lint setting; default: the installed SQLAlchemy) the
    string runs today: the finding is a warning that it breaks on the move to SQLAlchemy 2.

    ## Example
    ```python
    conn = op.get_bind()
    conn.execute("UPDATE users SET active = true")
    ```

    ## Use instead
    ```python
    conn = op.get_bind()
    conn.execute(sa.text("UPDATE users SET active = :active"), {"active": True})
    # or simply
    op.execute("UPDATE users SET active = true")
    ```
    """

    code = "SM305"
    name = "raw-sql-string"
    severity = Severity.ERROR
    fix = "wrap the SQL in sa.text(...) (with bind parameters), or use op.execute(...)"

    requires = (frozenset({op_fact("connection", "execute")}),)

    def check(self, migration: Migration) -> Iterator[Violation]:
        scopes: dict[int, Bindings] = {}
        judgement = None
        for _, function, calls in calls_by_function(migration):
            for call in calls:
                if call.receiver != "connection" or call.name != "execute":
                    continue
                bindings = scopes.setdefault(id(function), Bindings(function))
                statement = sql_argument(call.node)
                if is_str_expr(statement, bindings, call.line):
                    judgement = judgement or removed_in_2(migration)
                    yield Violation(
                        f"passes a plain string to {describe(call.node.func)}(); SQLAlchemy 2 "
                        "refuses to execute it (ObjectNotExecutableError)" + judgement.suffix,
                        node=call.node,
                        at_most=judgement.at_most,
                    )
