"""Which dialects reach a branch: ``if bind.dialect.name == "mysql":`` and its relatives.

Migrations written for several databases branch on the dialect, and a rule about one
database must not judge code that only another one runs. :func:`branch_reach` evaluates an
``if`` condition once per dialect, in three-valued logic (true, false, or cannot tell), and
answers which dialects may enter the body and which the ``else``. What it understands:

- ``<x>.dialect.name == "mysql"``, ``!=``, ``in ("mysql", "mariadb")``, ``not in``, and the
  same on ``op.get_bind().engine.name``, ``context.get_context().dialect.name``,
  ``bind.name``, ``url.drivername`` and names bound to them;
- ``isinstance(bind.dialect, SQLiteDialect)`` (any class whose name says its dialect), and
  tuples of classes;
- ``str(url).startswith("postgres")``, ``"sqlite" in url`` and ``.lower()``-like wrappers;
- ``not``, ``and``, ``or``; names bound once to such a condition (``is_sqlite = ...``);
  calls of a function of the script whose body is ``return <condition>``.

Anything else is "cannot tell" and reaches every dialect, so the evaluation only ever
narrows where the condition is plain.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Mapping

from flask_safemigrate.lint.calls import dotted, nodes_below
from flask_safemigrate.lint.patterns import compiled_later

ALL = frozenset({"postgresql", "mysql", "sqlite"})

# The spellings under which each dialect shows in names, URLs and dialect classes.
_FAMILIES: dict[str, tuple[str, ...]] = {
    "postgresql": ("postgresql", "postgres", "psycopg", "pg8000", "asyncpg", "pgdialect"),
    "mysql": ("mysql", "mariadb", "pymysql", "mysqldb", "aiomysql", "asyncmy"),
    "sqlite": ("sqlite", "pysqlite", "aiosqlite"),
}
# Dialect names of other databases: a comparison with one is false on all of ours.
OTHERS = frozenset(
    {"mssql", "oracle", "firebird", "sybase", "cockroachdb", "redshift", "snowflake", "duckdb"}
)
# Words in an expression that say it holds a dialect, engine or URL name.
_HINTS = ("dialect", "engine", "url", "uri", "driver", "backend", "bind", "conn", "database")
_WRAPPERS = frozenset({"lower", "upper", "strip", "casefold", "str", "render_as_string"})
_DEPTH = 8

Env = Mapping[str, ast.expr]


_MENTION = compiled_later(
    r"postgres|psycopg|pg8000|asyncpg|pgdialect|mysql|mariadb|sqlite|dialect|engine|"
    + "|".join(sorted(OTHERS)),
    re.IGNORECASE,
)


def mentions_dialect(test: ast.expr) -> bool:
    """A quick look before :func:`branch_reach`: whether the condition has a string naming a
    dialect, an ``isinstance`` call, or a name that reads like a dialect (``is_sqlite``)."""
    for sub in nodes_below(test):
        cls = sub.__class__
        if cls is ast.Constant:
            value = sub.value  # type: ignore[attr-defined]
            if isinstance(value, str) and _MENTION.search(value[:64]):
                return True
        elif cls is ast.Name:
            name = sub.id  # type: ignore[attr-defined]
            if name == "isinstance" or _MENTION.search(name):
                return True
    return False


def family(text: str) -> str | None:
    """The dialect a name or URL prefix denotes (``"postgresql+psycopg2"`` -> postgresql)."""
    base = text.lower().split("://")[0].split("+")[0].strip()
    for dialect, names in _FAMILIES.items():
        if base in names or (base and any(base.startswith(n) for n in names)):
            return dialect
    return None


def _class_family(node: ast.expr) -> str | None:
    name = (dotted(node) or "").lower()
    if not name:
        return None
    if "sqlite" in name:
        return "sqlite"
    if "mysql" in name or "mariadb" in name:
        return "mysql"
    if "postgres" in name or "psycopg" in name or name.split(".")[-1].startswith("pg"):
        return "postgresql"
    return None


def _hinted(node: ast.expr, env: Env, depth: int) -> bool:
    """Whether ``node`` reads like a dialect, engine or URL name."""
    for sub in nodes_below(node):
        word = ""
        if isinstance(sub, ast.Name):
            word = sub.id.lower()
            bound = env.get(sub.id)
            if bound is not None and depth < _DEPTH and _hinted(bound, env, depth + 1):
                return True
        elif isinstance(sub, ast.Attribute):
            word = sub.attr.lower()
        if word and any(hint in word for hint in _HINTS):
            return True
        if word == "name" and isinstance(sub, ast.Attribute):
            owner = (dotted(sub.value) or "").lower()
            if owner.endswith(("dialect", "engine", "bind")):
                return True
    return False


def _and(values: list[bool | None]) -> bool | None:
    if any(v is False for v in values):
        return False
    return True if all(v is True for v in values) else None


def _or(values: list[bool | None]) -> bool | None:
    if any(v is True for v in values):
        return True
    return False if all(v is False for v in values) else None


def _equals(text: object, dialect: str) -> bool | None:
    """``<dialect name> == text`` on ``dialect``."""
    if not isinstance(text, str):
        return None
    lowered = text.lower()
    if lowered in OTHERS:
        return False
    found = family(lowered)
    if found is None:
        return None
    if found != dialect:
        return False
    if dialect == "mysql" and lowered.startswith("mariadb"):
        return None  # MySQL or MariaDB: the lint dialect does not tell them apart
    return True


def _strings(node: ast.expr) -> list[str] | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return [node.value]
    if isinstance(node, ast.Tuple | ast.List | ast.Set) and all(
        isinstance(e, ast.Constant) and isinstance(e.value, str) for e in node.elts
    ):
        return [e.value for e in node.elts]  # type: ignore[attr-defined]
    return None


def evaluate(node: ast.expr, dialect: str, env: Env, depth: int = 0) -> bool | None:
    """The condition's truth on ``dialect``: ``True``, ``False`` or ``None`` (cannot tell)."""
    if depth > _DEPTH:
        return None
    if isinstance(node, ast.BoolOp):
        values = [evaluate(v, dialect, env, depth + 1) for v in node.values]
        return _and(values) if isinstance(node.op, ast.And) else _or(values)
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
        value = evaluate(node.operand, dialect, env, depth + 1)
        return None if value is None else not value
    if isinstance(node, ast.Name):
        bound = env.get(node.id)
        return None if bound is None else evaluate(bound, dialect, env, depth + 1)
    if isinstance(node, ast.Compare) and len(node.ops) == 1:
        return _compare(node.left, node.ops[0], node.comparators[0], dialect, env, depth)
    if isinstance(node, ast.Call):
        return _call(node, dialect, env, depth)
    return None


def _compare(
    left: ast.expr, op: ast.cmpop, right: ast.expr, dialect: str, env: Env, depth: int
) -> bool | None:
    if isinstance(op, ast.Eq | ast.NotEq | ast.Is | ast.IsNot):
        texts, other = _strings(right), left
        if texts is None:
            texts, other = _strings(left), right
        if texts is None or len(texts) != 1 or not _hinted(other, env, depth):
            return None
        value = _equals(texts[0], dialect)
        if value is None or isinstance(op, ast.Eq | ast.Is):
            return value
        return not value
    if isinstance(op, ast.In | ast.NotIn):
        if isinstance(right, ast.Tuple | ast.List | ast.Set):
            # <name> in ("mysql", "mariadb")
            members = _strings(right)
            if members is None or not _hinted(left, env, depth):
                return None
            value = _or([_equals(m, dialect) for m in members])
        else:
            # "sqlite" in str(url): a substring test
            needle = _strings(left)
            if needle is None or len(needle) != 1 or not _hinted(right, env, depth):
                return None
            found = family(needle[0])
            value = None if found is None else found == dialect
        if value is None or isinstance(op, ast.In):
            return value
        return not value
    return None


def _call(node: ast.Call, dialect: str, env: Env, depth: int) -> bool | None:
    name = dotted(node.func) or ""
    if name == "isinstance" and len(node.args) == 2:
        subject, classes = node.args
        if not _hinted(subject, env, depth):
            return None
        options = classes.elts if isinstance(classes, ast.Tuple) else [classes]
        families = [_class_family(c) for c in options]
        if any(f is None for f in families):
            return None
        return dialect in families
    if isinstance(node.func, ast.Attribute) and node.func.attr in {"startswith", "endswith"}:
        if len(node.args) != 1 or not _hinted(node.func.value, env, depth):
            return None
        prefixes = _strings(node.args[0])
        if prefixes is None:
            return None
        values: list[bool | None] = []
        for prefix in prefixes:
            found = family(prefix) if node.func.attr == "startswith" else None
            values.append(None if found is None else found == dialect)
        return _or(values)
    bound = env.get(name)
    if isinstance(bound, ast.Lambda):
        return evaluate(bound.body, dialect, env, depth + 1)
    return None


def branch_reach(
    test: ast.expr, reach: frozenset[str], env: Env
) -> tuple[frozenset[str], frozenset[str]]:
    """The dialects (of ``reach``) that may enter the body and the ``else`` of ``if test``."""
    body, orelse = set(), set()
    for dialect in reach:
        value = evaluate(test, dialect, env)
        if value is not False:
            body.add(dialect)
        if value is not True:
            orelse.add(dialect)
    return frozenset(body), frozenset(orelse)


def is_dialect_test(test: ast.expr, env: Env) -> bool:
    """Whether the condition decides anything on some dialect (cheap pre-check first)."""
    return any(evaluate(test, d, env) is not None for d in sorted(ALL))


def single_assignments(body: list[ast.stmt]) -> dict[str, ast.expr]:
    """Names bound exactly once in ``body`` (not below nested blocks' functions), with their
    value; a function ``def f(): return <expr>`` counts as ``f = lambda: <expr>``."""
    found: dict[str, ast.expr] = {}
    seen: set[str] = set()

    def bind(name: str, value: ast.expr | None) -> None:
        if name in seen:
            found.pop(name, None)
            return
        seen.add(name)
        if value is not None:
            found[name] = value

    stack = list(body)
    while stack:
        stmt = stack.pop()
        if isinstance(stmt, ast.Assign):
            for target in stmt.targets:
                if isinstance(target, ast.Name):
                    bind(target.id, stmt.value if len(stmt.targets) == 1 else None)
                else:
                    for sub in ast.walk(target):
                        if isinstance(sub, ast.Name):
                            bind(sub.id, None)
        elif isinstance(stmt, ast.AnnAssign | ast.AugAssign) and isinstance(stmt.target, ast.Name):
            bind(stmt.target.id, stmt.value if isinstance(stmt, ast.AnnAssign) else None)
        elif isinstance(stmt, ast.FunctionDef | ast.AsyncFunctionDef):
            body_stmts = [s for s in stmt.body if not _docstring(s)]
            if (
                len(body_stmts) == 1
                and isinstance(body_stmts[0], ast.Return)
                and body_stmts[0].value is not None
            ):
                bind(stmt.name, ast.Lambda(args=stmt.args, body=body_stmts[0].value))
            else:
                bind(stmt.name, None)
        elif isinstance(stmt, ast.For | ast.AsyncFor | ast.With | ast.AsyncWith | ast.If):
            if isinstance(stmt, ast.For | ast.AsyncFor):
                for sub in ast.walk(stmt.target):
                    if isinstance(sub, ast.Name):
                        bind(sub.id, None)
            stack.extend(stmt.body)
            stack.extend(getattr(stmt, "orelse", []))
        elif isinstance(stmt, ast.Try):
            stack.extend(stmt.body + stmt.orelse + stmt.finalbody)
            for handler in stmt.handlers:
                stack.extend(handler.body)
    return found


def _docstring(stmt: ast.stmt) -> bool:
    return isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Constant)


# A decorator whose name says which dialects run the function: ``@skip_if_sqlite``,
# ``@utils.only_postgresql``, ``@mysql_only``.
_SKIPS = compiled_later(r"^(?:skip_(?:if_|on_|for_)?|unless_|not_on_|except_)(?P<name>[a-z0-9]+)$")
_ONLY = compiled_later(r"^(?:only_(?:on_|for_|if_)?(?P<a>[a-z0-9]+)|(?P<b>[a-z0-9]+)_only)$")


def decorated_reach(decorators: list[ast.expr]) -> frozenset[str]:
    """The dialects that run a function with these decorators: :data:`ALL` (the same object)
    unless a decorator's own name says it skips a dialect or runs on one only."""
    reach = ALL
    for decorator in decorators:
        name = (dotted(decorator) or "").rsplit(".", 1)[-1].lower()
        skipped = _SKIPS.match(name)
        if skipped is not None and family(skipped["name"]) is not None:
            reach = reach - {family(skipped["name"])}
            continue
        only = _ONLY.match(name)
        found = family(only["a"] or only["b"]) if only is not None else None
        if found is not None:
            reach = reach & {found}
    return reach


def always_leaves(body: list[ast.stmt]) -> bool:
    """Whether a block always ends the function (``return``/``raise`` as its last word)."""
    return bool(body) and isinstance(body[-1], ast.Return | ast.Raise)
