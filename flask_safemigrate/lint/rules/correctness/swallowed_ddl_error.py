"""SM318 swallowed-ddl-error: an operation in try/except that does not re-raise."""

from __future__ import annotations

import ast
from collections.abc import Iterator

from flask_safemigrate.lint.calls import Call, dotted
from flask_safemigrate.lint.helpers.functions import module_nodes_of
from flask_safemigrate.lint.model import Migration, Rule, Violation
from flask_safemigrate.lint.registry import register
from flask_safemigrate.report import Severity

_OPERATIONS = frozenset({"op", "batch_op"})
#: What Alembic raises, before any SQL runs, when the object to drop is not in the reflected
#: table (batch mode's "No such constraint" / "No such index", a missing column's KeyError):
#: catching only these around a drop is ``IF EXISTS``.
_NOT_FOUND = frozenset({"ValueError", "KeyError", "LookupError", "NoSuchTableError"})
#: The database's error classes: "does not exist" is one of them, and so is a lock timeout.
_DATABASE_ERRORS = frozenset(
    {"DatabaseError", "OperationalError", "ProgrammingError", "InternalError"}
)


def _reraises(handler: ast.ExceptHandler) -> bool:
    return any(isinstance(node, ast.Raise) for node in ast.walk(handler))


def _span(body: list[ast.stmt]) -> tuple[int, int]:
    return body[0].lineno, body[-1].end_lineno or body[-1].lineno


def _within(calls: list[Call], span: tuple[int, int]) -> list[Call]:
    first, last = span
    return [c for c in calls if first <= c.line <= last and c.receiver in _OPERATIONS]


def _describe(call: Call) -> str:
    return f"{call.receiver}.{call.name}() on line {call.line}"


def _last(node: ast.AST) -> str:
    return (dotted(node) or "?").rsplit(".", 1)[-1]


def _caught(expr: ast.expr | None) -> list[str]:
    """The exception classes an ``except`` or ``suppress()`` names, by their last name
    (``[]``: every error)."""
    if expr is None:
        return []
    items = expr.elts if isinstance(expr, ast.Tuple) else [expr]
    return [_last(item) for item in items]


def _drops_only(inside: list[Call]) -> bool:
    return all(call.name.startswith("drop_") for call in inside)


def _creates_only(inside: list[Call]) -> bool:
    return all(call.name.startswith(("create_", "add_")) for call in inside)


def _judge(inside: list[Call], caught: list[str]) -> tuple[bool, Severity | None]:
    """Whether to report, and the severity cap.

    A body that only drops, catching only Alembic's "not there": nothing (``IF EXISTS``).
    Only drops, catching only the database's error classes: a warning (the class of "does
    not exist" is also that of a lock timeout or a syntax the server lacks; the linter cannot
    tell which the author expected). The same for a body that only creates or adds, catching
    only the database's error classes: "already exists" (a re-run finding its work done) is
    one of them, a lock timeout another. Alembic's own errors around a create (``ValueError``,
    ``KeyError``) say nothing of "already there", and an alter has no "already done" error:
    the rule's error. Anything else, and every error caught: the rule's error.
    """
    if not caught:
        return True, None
    if _drops_only(inside):
        if all(name in _NOT_FOUND for name in caught):
            return False, None
        if all(name in _NOT_FOUND | _DATABASE_ERRORS for name in caught):
            return True, Severity.WARNING
    elif _creates_only(inside) and all(name in _DATABASE_ERRORS for name in caught):
        return True, Severity.WARNING
    return True, None


def _consequence(inside: list[Call], at_most: Severity | None) -> str:
    if at_most is not None and _drops_only(inside):
        return (
            "if it fails for a reason other than the object being gone (a lock timeout), the"
            " revision is recorded as applied with the object still there; catch only the"
            " not-found error, or check first"
        )
    if at_most is not None:
        return (
            "if it fails for a reason other than the object being there already (a lock"
            " timeout), the revision is recorded as applied with the object missing; catch"
            " only the already-exists error, or check first"
        )
    return "the revision is recorded as applied with the operation missing"


def _falls_back(handler: ast.ExceptHandler, inside: list[Call], calls: list[Call]) -> bool:
    """Whether the handler runs the same kind of operation itself: the other form of the
    change (the other dialect's spelling, a retry after clearing what blocked it). If that
    fails, nothing catches it."""
    first, last = _span(handler.body)
    names = {call.name for call in inside}
    return any(
        first <= call.line <= last and call.receiver in _OPERATIONS and call.name in names
        for call in calls
    )


@register
class SwallowedDdlError(Rule):
    """A migration operation inside `try`/`except` (or `contextlib.suppress`) whose error is
    swallowed.

    ## What it does
    Flags a `try` whose body runs `op.*`/`batch_op.*` operations when one of its `except`
    handlers does not raise (`except: pass`, logging and carrying on), and `with
    suppress(...)` around such operations.

    Not reported: a handler that runs the same operation itself (the other form of the
    change, or a retry after clearing what blocked it: if that fails, nothing catches it),
    and a body that only drops objects while catching only what Alembic raises when the
    object is not there (`ValueError`, `KeyError`: batch mode's "No such constraint"), which
    is `IF EXISTS`. A drop that catches only the database's error classes
    (`OperationalError`, `ProgrammingError`, `DatabaseError`) is a warning: "does not exist"
    is one of them, but so are a lock timeout and a syntax the server lacks, and the linter
    cannot tell which one the author expected. The same for a body that only creates or adds
    (`add_column`, `create_index`, `create_unique_constraint`, ...) while catching only the
    database's error classes: "already exists", a re-run finding its work done, is one of
    them, and so is a lock timeout that leaves the object missing. A drop or a create under
    `except Exception` or a bare `except` stays an error (it also hides the operation that
    fails every time: an unnamed constraint in SQLite's batch mode, a typo), and so does a
    create under Alembic's own errors (`ValueError`) or an alter under anything.

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
        for node in module_nodes_of(migration, ast.Try, ast.TryStar, ast.With, ast.AsyncWith):
            if isinstance(node, ast.Try | ast.TryStar) and node.body:
                inside = _within(calls, _span(node.body))
                if inside:
                    yield from self._handlers(node, inside, calls)
            elif isinstance(node, ast.With | ast.AsyncWith) and node.body:
                yield from self._suppress(node, calls)

    def _handlers(
        self, node: ast.Try | ast.TryStar, inside: list[Call], calls: list[Call]
    ) -> Iterator[Violation]:
        for handler in node.handlers:
            if _reraises(handler) or _falls_back(handler, inside, calls):
                continue
            report, at_most = _judge(inside, _caught(handler.type))
            if not report:
                continue
            caught = ast.unparse(handler.type) if handler.type else "every error"
            yield Violation(
                f"catches {caught} from {_describe(inside[0])} without re-raising:"
                f" {_consequence(inside, at_most)}",
                node=handler,
                at_most=at_most,
            )
            return

    def _suppress(self, node: ast.With | ast.AsyncWith, calls: list[Call]) -> Iterator[Violation]:
        for item in node.items:
            expr = item.context_expr
            if not isinstance(expr, ast.Call) or _last(expr.func) != "suppress":
                continue
            inside = _within(calls, _span(node.body))
            if not inside:
                continue
            report, at_most = _judge(inside, [n for arg in expr.args for n in _caught(arg)])
            if report:
                consequence = _consequence(inside, at_most)
                yield Violation(
                    f"suppresses errors from {_describe(inside[0])}: {consequence}",
                    node=node,
                    at_most=at_most,
                )
            return
