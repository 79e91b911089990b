"""SM210 offset-pagination."""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator

from flask_safemigrate.lint.helpers.functions import direction_functions
from flask_safemigrate.lint.model import Migration, Rule, Violation
from flask_safemigrate.lint.patterns import compiled_later
from flask_safemigrate.lint.registry import register
from flask_safemigrate.lint.sql import execute_sql, sql_statements, sql_text
from flask_safemigrate.report import Severity

_OFFSET = compiled_later(r"\bOFFSET\b", re.IGNORECASE)
_MENTIONS_OFFSET = compiled_later("offset", re.IGNORECASE)
# In a string that is not passed to execute() directly: a query (it starts like one and says
# FROM) whose OFFSET takes a number or a bind parameter - not prose that mentions offsets.
_QUERY_START = compiled_later(r"^(?:SELECT|WITH|UPDATE|DELETE)\b.*\bFROM\b", re.IGNORECASE)
_QUERY_OFFSET = compiled_later(r"\bOFFSET\s*(?:\d|:|%|\?|\$|\{|__expr__)", re.IGNORECASE)


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
