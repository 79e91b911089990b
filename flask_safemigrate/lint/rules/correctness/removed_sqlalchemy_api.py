"""SM320 removed-sqlalchemy-api: SQLAlchemy 1.x calls that SQLAlchemy 2 removed."""

from __future__ import annotations

import ast
from collections.abc import Iterator

from flask_safemigrate.lint.calls import dotted, keyword, literal
from flask_safemigrate.lint.helpers.functions import module_nodes_of
from flask_safemigrate.lint.helpers.sqlalchemy_pin import removed_in_2
from flask_safemigrate.lint.model import Migration, Rule, Violation
from flask_safemigrate.lint.registry import register

_WORDS = ("bind=", "autoload", "select(", "engine", "session")
_SELECT = frozenset({"select", "sa.select", "sqlalchemy.select", "sa.sql.select", "sql.select"})


def _last(node: ast.AST) -> str:
    return (dotted(node) or "").rsplit(".", 1)[-1]


def _is_engine(node: ast.AST) -> bool:
    """``engine``, ``x.engine``, ``op.get_bind().engine``, ``create_engine(...)``."""
    if isinstance(node, ast.Name):
        return node.id == "engine" or node.id.endswith("_engine")
    if isinstance(node, ast.Attribute):
        return node.attr == "engine"
    return isinstance(node, ast.Call) and _last(node.func) in {"create_engine", "get_engine"}


def _is_session(node: ast.AST) -> bool:
    """``session``, ``db.session``, ``Session(bind=...)``, ``sessionmaker(...)()``."""
    if isinstance(node, ast.Call):
        return _last(node.func) in {"Session", "sessionmaker"} or _is_session(node.func)
    name = _last(node)
    return name == "session" or name.endswith("_session")


def _plain_string(node: ast.AST | None) -> bool:
    if isinstance(node, ast.JoinedStr):
        return True
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Mod | ast.Add):
        return _plain_string(node.left)
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
        return node.func.attr == "format" and _plain_string(node.func.value)
    return isinstance(literal(node), str) and not isinstance(node, ast.Call)


def _problem(node: ast.Call) -> str | None:
    func = node.func
    name = _last(func)
    if name == "MetaData" and keyword(node, "bind") is not None:
        return "MetaData(bind=...) was removed in SQLAlchemy 2 (TypeError)"
    if name == "Table" and literal(keyword(node, "autoload")) is True:
        return "Table(..., autoload=True) was removed in SQLAlchemy 2; use autoload_with=bind"
    if dotted(func) in _SELECT and node.args and isinstance(node.args[0], ast.List):
        return (
            "select([...]) with a list was removed in SQLAlchemy 2; pass the columns as arguments"
        )
    if isinstance(func, ast.Attribute) and func.attr == "execute":
        if _is_engine(func.value):
            return "Engine.execute() was removed in SQLAlchemy 2 (AttributeError)"
        if _is_session(func.value) and node.args and _plain_string(node.args[0]):
            return (
                "Session.execute() of a plain string was removed in SQLAlchemy 2"
                " (ArgumentError); wrap it in sa.text()"
            )
    return None


def _may_have_problem(source: str) -> bool:
    """Whether the source has the names each problem of :func:`_problem` needs (MetaData and
    bind; autoload; select; execute on an engine or a session): most scripts do not."""
    return (
        "autoload" in source
        or "select" in source
        or ("MetaData" in source and "bind" in source)
        or ("execute" in source and ("engine" in source or "ession" in source))
    )


@register
class RemovedSqlalchemyApi(Rule):
    """A SQLAlchemy 1.x API that SQLAlchemy 2 removed: the migration fails when it runs.

    ## What it does
    Flags, anywhere in the script: `MetaData(bind=...)`, `Table(..., autoload=True)`,
    `select([...])` with a list, `engine.execute(...)` (also `op.get_bind().engine.execute`),
    and `session.execute("...")` of a plain string. A plain string passed to a connection's
    `execute()` is `raw-sql-string`'s.

    ## Why it matters
    Old migrations are run again: on a new database, in CI, in a new developer's setup. After
    the project moves to SQLAlchemy 2, these calls raise (`TypeError`, `AttributeError`,
    `ArgumentError`) and the history no longer applies from scratch, often noticed only when a
    new environment is created.

    On a project that still runs SQLAlchemy 1.x (`sqlalchemy = "1.4"` in
    `[tool.safemigrate.lint]`, or `SAFEMIGRATE_LINT_SQLALCHEMY`; default: the installed
    SQLAlchemy) the calls work today: the finding is a warning that they break on the move
    to SQLAlchemy 2, not an error.

    ## Example
    ```python
    def upgrade():
        bind = op.get_bind()
        meta = sa.MetaData(bind=bind)
        users = sa.Table("users", meta, autoload=True)
        rows = bind.engine.execute(sa.select([users.c.id]))
    ```

    ## Use instead
    ```python
    def upgrade():
        bind = op.get_bind()
        meta = sa.MetaData()
        users = sa.Table("users", meta, autoload_with=bind)
        rows = bind.execute(sa.select(users.c.id))
    ```
    """

    code = "SM320"
    name = "removed-sqlalchemy-api"
    fix = "use the SQLAlchemy 2 form: autoload_with=bind, select(a, b), bind.execute(sa.text(...))"

    def check(self, migration: Migration) -> Iterator[Violation]:
        source = migration.source
        for word in _WORDS:  # a loop, not any(...): every script asks
            if word in source:
                break
        else:
            return  # most scripts: no walk
        if not _may_have_problem(source):
            return
        judgement = None
        for node in module_nodes_of(migration, ast.Call):
            if isinstance(node, ast.Call):
                problem = _problem(node)
                if problem is not None:
                    judgement = judgement or removed_in_2(migration)
                    yield Violation(
                        problem + judgement.suffix, node=node, at_most=judgement.at_most
                    )
