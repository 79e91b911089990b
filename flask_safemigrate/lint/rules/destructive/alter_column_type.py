"""SM105 alter-column-type."""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from flask_safemigrate.lint.calls import Call, dotted, is_missing, literal
from flask_safemigrate.lint.helpers.alter_actions import alter_actions
from flask_safemigrate.lint.helpers.facts import UP_EXECUTE
from flask_safemigrate.lint.helpers.labels import column_label, node_label
from flask_safemigrate.lint.helpers.timeline import Timeline, timeline
from flask_safemigrate.lint.index import op_facts
from flask_safemigrate.lint.model import VALUES_AT_RISK, Migration, Rule, Violation
from flask_safemigrate.lint.patterns import compiled_later
from flask_safemigrate.lint.registry import register
from flask_safemigrate.lint.sql import IDENT, ident
from flask_safemigrate.type_fit import narrowing

_ALTER_TYPE = compiled_later(rf"^ALTER (?:COLUMN )?({IDENT}) (?:SET DATA )?TYPE\b", re.IGNORECASE)


# --- alter-column-type -----------------------------------------------------------------------

_VARCHAR = frozenset({"String", "VARCHAR", "Unicode"})
_TEXT = frozenset({"Text", "TEXT", "UnicodeText", "CLOB"})
_NUMERIC = frozenset({"Numeric", "NUMERIC", "DECIMAL"})
_ENUM = frozenset({"Enum", "ENUM"})
_PYTHON_SIDE = frozenset({"asdecimal", "decimal_return_scale", "_expect_unicode"})
# MySQL stores a VARCHAR's length in 1 byte up to 255 bytes: 63 characters in utf8mb4.
_MYSQL_ONE_BYTE_PREFIX = 63


@dataclass(frozen=True)
class _Type:
    """A column type as written: its class name, family and sizes, for comparing two."""

    name: str
    family: str | None  # "varchar" | "text" | "numeric" | None (anything else)
    size: tuple[Any, ...]
    rest: tuple[str, ...]  # everything else that reaches the DDL (collation, ...), dumped


def _parse_type(node: ast.expr) -> _Type | None:
    if isinstance(node, ast.Call):
        name = dotted(node.func)
        args = [a for a in node.args if not isinstance(a, ast.Starred)]
        if len(args) != len(node.args) or any(kw.arg is None for kw in node.keywords):
            return None
        kwargs = {kw.arg: kw.value for kw in node.keywords if kw.arg is not None}
    else:
        name, args, kwargs = dotted(node), [], {}
    if name is None:
        return None
    last = name.rsplit(".", 1)[-1]

    def take(position: int, keyword: str) -> Any:
        value = kwargs.pop(keyword, None)
        if value is None and position < len(args):
            value = args[position]
        return None if value is None else literal(value)

    family: str | None = None
    size: tuple[Any, ...] = ()
    if last in _ENUM and all(
        isinstance(a, ast.Constant) and isinstance(a.value, str) for a in args
    ):
        family, size, args = "enum", tuple(literal(a) for a in args), []
    elif last in _VARCHAR or last in _TEXT:
        family = "varchar" if last in _VARCHAR else "text"
        size = (take(0, "length"),)
        args = args[1:]
    elif last in _NUMERIC:
        family = "numeric"
        precision, scale = take(0, "precision"), take(1, "scale")
        if precision is not None and scale is None:
            scale = 0
        size = (precision, scale)
        args = []  # further positional arguments (asdecimal, ...) only affect Python
        for key in _PYTHON_SIDE:
            kwargs.pop(key, None)
    if family != "enum" and any(
        is_missing(v) or isinstance(v, bool) or not (v is None or isinstance(v, int)) for v in size
    ):
        family = None  # a size we cannot read: only an identical type is known to be safe
        size = ()
        kwargs = {kw.arg: kw.value for kw in getattr(node, "keywords", []) if kw.arg}
        args = list(getattr(node, "args", []))
    rest = tuple(ast.dump(a) for a in args) + tuple(
        f"{k}={ast.dump(v)}" for k, v in sorted(kwargs.items())
    )
    return _Type(last, family, size, rest)


def _alternatives(node: ast.expr, names: dict[str, ast.expr] | None = None) -> list[ast.expr]:
    """The types a conditional (``A if cond else B``) may give; the node itself otherwise. A
    name bound once at module level (``_OLD_STATE = sa.Enum(...)``) stands for its value."""
    if isinstance(node, ast.IfExp):
        return [*_alternatives(node.body, names), *_alternatives(node.orelse, names)]
    if isinstance(node, ast.Name) and names and node.id in names:
        return [names[node.id]]
    return [node]


def _module_types(tree: ast.Module) -> dict[str, ast.expr]:
    """Names bound exactly once at module level to a call (a column type, as written)."""
    bound: dict[str, ast.expr | None] = {}
    for stmt in tree.body:
        if isinstance(stmt, ast.Assign) and len(stmt.targets) == 1:
            target = stmt.targets[0]
            if isinstance(target, ast.Name):
                single = target.id not in bound and isinstance(stmt.value, ast.Call)
                bound[target.id] = stmt.value if single else None
    return {name: value for name, value in bound.items() if value is not None}


_INTEGER_RANK = {
    "SmallInteger": 1, "SMALLINT": 1, "Integer": 2, "INTEGER": 2, "INT": 2,
    "BigInteger": 3, "BIGINT": 3,
}  # fmt: skip


_INTEGER_TYPES = {1: "smallint", 2: "integer", 3: "bigint"}


def _described(type_: _Type) -> tuple[str, dict[str, Any]] | None:
    """``type_`` as :func:`flask_safemigrate.type_fit.narrowing` reads a type, with the group
    it compares within (``None``: a type it does not judge)."""
    if type_.name in _INTEGER_RANK:
        return "integer", {"type": _INTEGER_TYPES[_INTEGER_RANK[type_.name]]}
    if type_.family == "numeric":
        precision, scale = type_.size
        return "numeric", {"type": "numeric", "precision": precision, "scale": scale}
    if type_.family in ("varchar", "text"):
        kind = "string" if type_.family == "varchar" else "text"
        return "string", {"type": kind, "length": type_.size[0]}
    if type_.family == "enum":
        return "enum", {"type": "enum", "enum": list(type_.size)}
    return None


def _keeps_values(old: _Type | None, new: _Type | None) -> bool:
    """Whether every value of ``old`` fits ``new`` (a widening that still rewrites: a wider
    integer, ``Numeric(10, 2)`` to ``Numeric(12, 4)``), as the release check judges it
    (:func:`~flask_safemigrate.type_fit.narrowing`), or a change :func:`_safe_change` calls
    safe somewhere."""
    if old is None or new is None:
        return False
    if _safe_change(old, new, mysql=False):
        return True
    before, after = _described(old), _described(new)
    if before is None or after is None or old.rest != new.rest or before[0] != after[0]:
        return False  # another family (an integer made numeric may not fit): not judged
    if before[0] == "numeric" and old.size[0] is None and new.size[0] is not None:
        return False  # any precision -> a bounded one
    return narrowing(before[1], after[1]) is None


def _safe_change(old: _Type, new: _Type, mysql: bool) -> bool:
    """Whether changing ``old`` to ``new`` is a known metadata-only widening."""
    if old.family is None or new.family is None or old.rest != new.rest:
        return old.name == new.name and old.size == new.size and old.rest == new.rest
    if old.family == "enum" or new.family == "enum":
        if old.family != new.family:
            return False
        # MySQL changes an ENUM in place when members are only appended at the end.
        return old.size == new.size or (mysql and new.size[: len(old.size)] == old.size)
    if old.family == "varchar":
        (n,) = old.size
        if new.family == "text":
            return not mysql
        if new.family != "varchar":
            return False
        (m,) = new.size
        if n is None or m is None:
            return m is None and (n is None or not mysql)
        if m < n:
            return False
        return not mysql or m == n or m <= _MYSQL_ONE_BYTE_PREFIX or n > _MYSQL_ONE_BYTE_PREFIX
    if old.family == "text":
        return new.family == "text" and (not mysql or old.size == new.size)
    if new.family != "numeric":
        return False
    (p1, s1), (p2, s2) = old.size, new.size
    if (p1, s1) == (p2, s2):
        return True
    if mysql:
        return False
    if p2 is None:
        return s2 is None  # an unconstrained NUMERIC holds every value
    return p1 is not None and p2 >= p1 and s1 == s2


@register
class AlterColumnType(Rule):
    """Changing a column's type can rewrite the table and break existing values or code.

    ## What it does
    Flags `alter_column(..., type_=...)` (on `op` and `batch_op`) and
    `ALTER COLUMN ... TYPE` in literal SQL inside `upgrade()`, for a column that was not
    added earlier in the same function. Changes known to be metadata-only are not flagged:
    widening a `String`/`VARCHAR` (to a longer length, to no length, or to `Text`),
    raising a `Numeric`'s precision with the same scale (or dropping the precision), and an
    unchanged type. Judging needs `existing_type=`; without it the change is flagged,
    because it cannot be shown to be safe, except in a rename (`new_column_name=`), where
    `type_=` restates the column's type for MySQL's `CHANGE COLUMN`. The length is read
    from `sa.String(50)`,
    `sa.String(length=50)`, `sa.VARCHAR(50)`, `mysql.VARCHAR(length=50)` and the like. A
    conditional type (`sa.String(64) if x else sa.String(100)`) is safe when every
    alternative is.

    With `dialect = "mysql"` the MySQL rules apply: a VARCHAR stays in place only while its
    length prefix keeps its size (up to 63 characters in utf8mb4, or already above),
    VARCHAR to TEXT or any DECIMAL change copies the table, and an `ENUM` whose members are
    only appended at the end changes in place. On SQLite an `Enum` is a VARCHAR as long as its
    longest member, so appending members is a widening too; on PostgreSQL it is still
    reported. A type held by a name bound once at module level (`_NEW_STATE = sa.Enum(...)`)
    is read from its value.

    In `flask db safe-upgrade`'s pre-flight the finding is judged by the table's live size,
    like the other rewrite rules: on a table that does not exist yet or is empty it is info,
    and on a large one (`SAFEMIGRATE_LARGE_TABLE_ROWS`) it blocks with the row count. On a
    small table that has rows, the rewrite is brief, so a change that keeps every value (a
    wider integer, a `Numeric` with at least as many integer digits and decimals such as
    `Numeric(10, 2)` to `Numeric(12, 4)`, a widening MySQL copies for, appended enum members;
    judged as the release check judges a narrowing) is info, and its message says the table
    is rewritten but not that values may not fit; one that can
    fail on or alter existing values (a narrowing, another type family, a type that cannot
    be read) stays a warning with the row count: the lock is no longer the risk, but the
    rows must fit the new type, which is worth a look and never worth stopping the deploy for
    (a value that does not fit fails the statement, which leaves nothing behind).

    ## Why it matters
    Most type changes rewrite the table and its indexes under an exclusive lock (PostgreSQL
    `ACCESS EXCLUSIVE`, a table copy on MySQL, a table rebuild on SQLite): reads and writes
    stop for as long as that takes. Narrowing fails on, or silently truncates, existing
    values, and code still running the previous release may write values the new type
    rejects.

    ## Example
    ```python
    def upgrade():
        op.alter_column("orders", "id", type_=sa.BigInteger(), existing_type=sa.Integer())
    ```

    ## Use instead
    Widen where the database can do it in place, saying what the column was:
    ```python
    def upgrade():
        op.alter_column(
            "users", "email", type_=sa.String(320), existing_type=sa.String(120)
        )
    ```
    For other changes, add a new column of the new type, backfill it in batches while the
    code writes both, switch reads, and drop the old column in a later release.
    """

    code = "SM105"
    name = "alter-column-type"
    fix = "add a column of the new type, backfill and dual-write, switch, drop the old one later"

    requires = (
        op_facts("alter_column", upgrade=True) | UP_EXECUTE,
        UP_EXECUTE | {"type_"},  # alter_column takes it by keyword only
    )

    def check(self, migration: Migration) -> Iterator[Violation]:
        line = timeline(migration)
        mysql = migration.config.dialect == "mysql"
        for call in migration.upgrade_calls:
            if call.name == "alter_column" and call.receiver in {"op", "batch_op"}:
                violation = self._alter_column(call, line, mysql, migration.tree)
                if violation is not None:
                    yield violation
            elif call.name == "execute":
                for table, match in alter_actions(line, call, _ALTER_TYPE):
                    if not line.added(call, table, match.group(1)):
                        yield Violation(
                            f"changes the type of {table}.{ident(match.group(1))} in SQL,"
                            " which cannot be shown to be a safe widening and may rewrite"
                            " the table under an exclusive lock",
                            node=call.node,
                            facts={VALUES_AT_RISK: True},
                        )

    def _alter_column(
        self, call: Call, line: Timeline, mysql: bool, tree: ast.Module
    ) -> Violation | None:
        new_node = call.param("type_")
        if new_node is None or literal(new_node) is None:
            return None
        if line.added(call, call.table, call.column):
            return None
        old_node = call.param("existing_type")
        new = _parse_type(new_node)
        if (old_node is None or literal(old_node) is None) and call.has_keyword("new_column_name"):
            return None  # a rename restating the column's type (MySQL's CHANGE needs one)
        if old_node is None or literal(old_node) is None:
            return Violation(
                f"changes the type of {column_label(call)} to {node_label(new_node)} without"
                " `existing_type=`,"
                " so it cannot be shown to be a safe widening; most type changes rewrite the"
                " table under an exclusive lock",
                node=call.node,
                help="pass existing_type= so that a safe widening is recognised; otherwise "
                + self.fix,
                facts={VALUES_AT_RISK: True},
            )
        by_name = isinstance(old_node, ast.Name) or isinstance(new_node, ast.Name)
        names = _module_types(tree) if by_name else None
        olds = [_parse_type(n) for n in _alternatives(old_node, names)]
        news = [_parse_type(n) for n in _alternatives(new_node, names)]
        if all(o is not None for o in olds) and all(n is not None for n in news):
            pairs = [(o, n) for o in olds for n in news if o is not None and n is not None]
            if all(_safe_change(o, n, mysql) for o, n in pairs):
                return None  # every type it may have, to every type it may get: safe
            if not mysql and all(_safe_change(o, n, mysql=True) for o, n in pairs):
                # An ENUM member appended: in place on MySQL; on SQLite an Enum is a VARCHAR as
                # long as its longest member, which appending only widens; a type change on
                # PostgreSQL.
                return Violation(
                    f"changes the type of {column_label(call)} from {node_label(old_node)}"
                    f" to {node_label(new_node)}, which is in place on MySQL and SQLite only",
                    node=call.node,
                    dialects=frozenset({"postgresql"}),
                    facts={VALUES_AT_RISK: False},  # members appended: every value fits
                )
        old = olds[0] if len(olds) == 1 else None
        new = news[0] if len(news) == 1 else None
        # Only now the message: naming a type that is not a literal means unparsing it.
        change = (
            f"changes the type of {column_label(call)} from {node_label(old_node)}"
            f" to {node_label(new_node)}"
        )
        # A widening MySQL cannot do in place:
        if old is not None and new is not None and _safe_change(old, new, mysql=False):
            return Violation(
                f"{change}, which MySQL cannot do in place: it copies the table while"
                " blocking writes",
                node=call.node,
                dialects=frozenset({"mysql"}),
                facts={VALUES_AT_RISK: False},
            )
        if _keeps_values(old, new):
            return Violation(
                f"{change}, which rewrites the table under an exclusive lock (every existing"
                " value fits the new type)",
                node=call.node,
                facts={VALUES_AT_RISK: False},
            )
        return Violation(
            f"{change}, which rewrites the table under an exclusive lock and can fail on or"
            " alter existing values",
            node=call.node,
            facts={VALUES_AT_RISK: True},
        )
