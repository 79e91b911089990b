"""SM306 nested-transaction: The migration begins, commits or rolls back a transaction itself."""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator

from flask_safemigrate.lint.calls import dotted
from flask_safemigrate.lint.helpers.functions import FunctionNode, migration_functions, statements
from flask_safemigrate.lint.helpers.labels import describe
from flask_safemigrate.lint.model import Migration, Rule, Violation
from flask_safemigrate.lint.patterns import compiled_later
from flask_safemigrate.lint.registry import register
from flask_safemigrate.lint.sql import literal_sql, sql_argument, strip_sql_comments
from flask_safemigrate.report import Severity

_TRANSACTION_METHODS = frozenset({"begin", "commit", "rollback", "begin_nested"})
_TRANSACTION_SQL = compiled_later(
    r"^\s*(?:COMMIT|ROLLBACK|BEGIN|START\s+TRANSACTION)(?:\s+(?:WORK|TRANSACTION))?\s*$",
    re.IGNORECASE,
)
_TRANSACTION_HINT = compiled_later(
    r"\.(?:begin|commit|rollback|begin_nested)\b|\b(?:COMMIT|ROLLBACK|BEGIN|START)\b",
    re.IGNORECASE,
)
# Bodies of functions/DO blocks (`$$ ... $$`) and string literals, which hold `;` and `END`.
_SQL_QUOTED = compiled_later(r"\$(\w*)\$.*?\$\1\$|'(?:[^']|'')*'", re.S)


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
    Reports, inside `upgrade()`/`downgrade()`, calls to `.begin()`, `.commit()` and
    `.rollback()` on the bind, a connection or a session, and SQL that runs `COMMIT`,
    `ROLLBACK`, `BEGIN` or `START TRANSACTION` through `op.execute()` or a connection
    (statements inside function bodies and string literals do not count). Not reported: a
    session bound to the migration's connection (`Session(bind=op.get_bind())`, also
    `db.Session(...)` and `sessionmaker(bind=...)()`), whose `begin()`/`commit()` join
    Alembic's transaction without ending it (its `rollback()` is reported: it does roll the
    migration back); a `rollback()` followed by `raise`, directly or after calls that only
    report the error (`print()`, `logger.exception()`; the revision fails either way); and
    `begin_nested()`, a SAVEPOINT that keeps the migration atomic. Flask-SQLAlchemy's
    `db.session` is a connection of its own and gets a message of its own. A `rollback()`
    that swallows the error is reported: on SQLite and MariaDB the run ends with the revision
    recorded as not applied while its DDL stays; on PostgreSQL the whole run fails.

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
            sessions: _Sessions | None = None
            for node in migration.index.calls_in(function):
                if not isinstance(node, ast.Call) or not isinstance(node.func, ast.Attribute):
                    continue
                attr = node.func.attr
                if attr in _TRANSACTION_METHODS:
                    if sessions is None:
                        sessions = _Sessions(migration.tree, function)
                    message = sessions.judge(node, node.func)
                    if message is not None:
                        found.append(Violation(message, node=node))
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


# What holds the migration's own connection: `op.get_bind()`, `op.get_context().bind` (or
# `.connection`), and names bound to them.
_MIGRATION_CONNECTIONS = frozenset({"op.get_bind", "context.get_bind"})
_SESSION_FACTORIES = frozenset({"Session", "sessionmaker", "scoped_session"})


class _Sessions:
    """Which names in a migration function hold a session bound to the migration's own
    connection (``Session(bind=op.get_bind())``), and which ``rollback()`` calls are followed
    by a ``raise`` (the revision fails either way), directly or after reporting calls."""

    def __init__(self, tree: ast.Module, function: FunctionNode) -> None:
        self.connections: set[str] = set()
        self.bound: set[str] = set()
        values: list[tuple[str, ast.expr]] = []
        for stmt in [*tree.body, *statements(function.body)]:
            if isinstance(stmt, ast.Assign) and len(stmt.targets) == 1:
                target = stmt.targets[0]
                if isinstance(target, ast.Name):
                    values.append((target.id, stmt.value))
            elif (
                isinstance(stmt, ast.AnnAssign)
                and isinstance(stmt.target, ast.Name)
                and stmt.value is not None
            ):
                values.append((stmt.target.id, stmt.value))
            elif isinstance(stmt, ast.With | ast.AsyncWith):
                for item in stmt.items:
                    if isinstance(item.optional_vars, ast.Name):
                        values.append((item.optional_vars.id, item.context_expr))
        for name, value in values:  # connections first: sessions are bound to them
            if self._connection(value):
                self.connections.add(name)
        for name, value in values:
            if self._session(value):
                self.bound.add(name)
        self.reraised: set[int] = set()
        bodies = [function.body]
        for stmt in statements(function.body):
            bodies.extend(_bodies(stmt))
        for body in bodies:
            for index, first in enumerate(body):
                if isinstance(first, ast.Expr) and _raises_next(body[index + 1 :]):
                    self.reraised.add(id(first.value))

    def _connection(self, node: ast.expr) -> bool:
        if isinstance(node, ast.Call):
            return (dotted(node.func) or "") in _MIGRATION_CONNECTIONS
        if isinstance(node, ast.Attribute) and node.attr in {"bind", "connection"}:
            owner = node.value
            return isinstance(owner, ast.Call) and (dotted(owner.func) or "").endswith(
                "get_context"
            )
        return isinstance(node, ast.Name) and node.id in self.connections

    def _session(self, node: ast.expr) -> bool:
        """``Session(bind=<migration connection>)``, ``sessionmaker(bind=...)()``, or
        ``Session(<connection>)`` (any ``...Session`` class, ``db.Session`` included)."""
        if not isinstance(node, ast.Call):
            return isinstance(node, ast.Name) and node.id in self.bound
        factory = node.func
        if isinstance(factory, ast.Call):  # sessionmaker(bind=bind)()
            return self._session(factory)
        name = (dotted(factory) or "").rsplit(".", 1)[-1]
        if name not in _SESSION_FACTORIES:
            return False
        bind = next((kw.value for kw in node.keywords if kw.arg == "bind"), None)
        if bind is None and node.args:
            bind = node.args[0]
        return bind is not None and self._connection(bind)

    def judge(self, call: ast.Call, method: ast.Attribute) -> str | None:
        """The finding's message for ``<owner>.<method>()``, or ``None`` when it is harmless."""
        attr, owner = method.attr, method.value
        described = describe(method)
        if attr == "begin_nested":
            return None  # a SAVEPOINT inside Alembic's transaction keeps it atomic
        if (dotted(owner) or "").endswith("db.session") or dotted(owner) == "db.session":
            return (
                f"calls {described}() on Flask-SQLAlchemy's db.session, a connection of its "
                "own and not the migration's: what it commits stays committed when the "
                "migration fails, and it can wait forever on locks the migration holds"
            )
        if attr == "rollback" and id(call) in self.reraised:
            return None  # the revision fails either way: rolling back first changes nothing
        if self._session(owner):
            if attr in {"commit", "begin"}:
                return None  # joins Alembic's transaction; commit() does not end it
            return (
                f"calls {described}() on a session bound to the migration's connection, "
                "which rolls back Alembic's transaction: the steps before it are undone "
                "while the migration carries on"
            )
        return (
            f"calls {described}() inside the migration, which already runs in Alembic's "
            "transaction; this breaks its atomicity"
        )


# Calls that only report the error: `print(...)`, `logger.exception(...)`, `logging.warning(...)`,
# `traceback.print_exc()`, `sys.stderr.write(...)`. Between a rollback and a `raise` they
# change nothing the database sees.
_LOG_LEVELS = frozenset(
    {"debug", "info", "warning", "warn", "error", "exception", "critical", "fatal", "log"}
)
_REPORTING_CALLS = frozenset(
    {"print", "traceback.print_exc", "traceback.print_exception", "sys.stderr.write"}
)


def _reports_only(stmt: ast.stmt) -> bool:
    """Whether ``stmt`` only tells someone about the error (or does nothing at all)."""
    if isinstance(stmt, ast.Pass):
        return True
    if not isinstance(stmt, ast.Expr):
        return False
    if isinstance(stmt.value, ast.Constant):
        return True
    if not isinstance(stmt.value, ast.Call):
        return False
    name = dotted(stmt.value.func) or ""
    if name in _REPORTING_CALLS:
        return True
    owner, _, method = name.rpartition(".")
    return method in _LOG_LEVELS and "log" in owner.rsplit(".", 1)[-1].lower()


def _raises_next(rest: list[ast.stmt]) -> bool:
    """Whether a ``raise`` follows, with at most reporting calls (:func:`_reports_only`)
    before it: the revision fails either way, so a rollback just before changes nothing."""
    for stmt in rest:
        if isinstance(stmt, ast.Raise):
            return True
        if not _reports_only(stmt):
            return False
    return False


def _bodies(stmt: ast.stmt) -> list[list[ast.stmt]]:
    found = [getattr(stmt, name, None) for name in ("body", "orelse", "finalbody")]
    out = [body for body in found if isinstance(body, list) and body]
    for handler in getattr(stmt, "handlers", None) or ():
        out.append(handler.body)
    return out
