"""SM318 swallowed-ddl-error: an operation in try/except that does not re-raise."""

from __future__ import annotations

import ast
from collections.abc import Iterator

from flask_safemigrate.lint.calls import Call, dotted
from flask_safemigrate.lint.helpers.functions import module_nodes
from flask_safemigrate.lint.model import Migration, Rule, Violation
from flask_safemigrate.lint.registry import register

_OPERATIONS = frozenset({"op", "batch_op"})


def _reraises(handler: ast.ExceptHandler) -> bool:
    return any(isinstance(node, ast.Raise) for node in ast.walk(handler))


def _span(body: list[ast.stmt]) -> tuple[int, int]:
    return body[0].lineno, body[-1].end_lineno or body[-1].lineno


def _within(calls: list[Call], span: tuple[int, int]) -> list[Call]:
    first, last = span
    return [c for c in calls if first <= c.line <= last and c.receiver in _OPERATIONS]


def _describe(call: Call) -> str:
    return f"{call.receiver}.{call.name}() on line {call.line}"


@register
class SwallowedDdlError(Rule):
    """A migration operation inside `try`/`except` (or `contextlib.suppress`) whose error is
    swallowed.

    ## What it does
    Flags a `try` whose body runs `op.*`/`batch_op.*` operations when one of its `except`
    handlers does not raise (`except: pass`, logging and carrying on), and `with
    suppress(...)` around such operations.

    ## Why it matters
    The revision is then recorded as applied although its operation failed. On MySQL and
    SQLite, where DDL is not transactional, the database is left without the column or index
    that every later revision and the application expect, and nothing says so until they
    fail. On PostgreSQL the failed statement aborts the transaction: every later statement
    fails with "current transaction is aborted", far from the real cause.

    ## Example
    ```python
    def upgrade():
        try:
            op.add_column("users", sa.Column("email", sa.String(255)))
        except Exception:
            pass  # "already exists"
    ```

    ## Use instead
    Check for the object instead of catching the failure (an existence check makes the step
    idempotent), or re-raise what you did not expect:
    ```python
    def upgrade():
        if not guards.column_exists("users", "email"):
            op.add_column("users", sa.Column("email", sa.String(255)))
    ```
    """

    code = "SM318"
    name = "swallowed-ddl-error"
    fix = "replace the try/except with an existence check, or re-raise the error"

    def check(self, migration: Migration) -> Iterator[Violation]:
        source = migration.source
        if "try" not in source and "suppress" not in source:
            return  # most scripts: no walk
        calls = migration.calls
        if not any(c.receiver in _OPERATIONS for c in calls):
            return  # no operation that an except could swallow
        for node in module_nodes(migration):
            if isinstance(node, ast.Try | ast.TryStar) and node.body:
                inside = _within(calls, _span(node.body))
                if not inside:
                    continue
                for handler in node.handlers:
                    if not _reraises(handler):
                        caught = ast.unparse(handler.type) if handler.type else "every error"
                        yield Violation(
                            f"catches {caught} from {_describe(inside[0])} without re-raising:"
                            " the revision is recorded as applied with the operation missing",
                            node=handler,
                        )
                        break
            elif isinstance(node, ast.With | ast.AsyncWith) and node.body:
                for item in node.items:
                    expr = item.context_expr
                    is_suppress = isinstance(expr, ast.Call) and (
                        (dotted(expr.func) or "").rsplit(".", 1)[-1] == "suppress"
                    )
                    inside = _within(calls, _span(node.body)) if is_suppress else []
                    if inside:
                        yield Violation(
                            f"suppresses errors from {_describe(inside[0])}: the revision is"
                            " recorded as applied with the operation missing",
                            node=node,
                        )
                        break
