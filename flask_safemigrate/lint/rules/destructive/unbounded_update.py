"""SM109 unbounded-update: an UPDATE without WHERE rewrites every row of an existing table."""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator

from flask_safemigrate.lint.calls import Call, dotted, literal
from flask_safemigrate.lint.helpers.functions import direction_functions
from flask_safemigrate.lint.helpers.timeline import Timeline, timeline
from flask_safemigrate.lint.model import Migration, Rule, Violation
from flask_safemigrate.lint.registry import register
from flask_safemigrate.lint.sql import QNAME, ident
from flask_safemigrate.report import Severity

_UPDATE = re.compile(
    rf"^(?:WITH\b.*?\)\s*)?UPDATE (?:(?:LOW_PRIORITY|IGNORE) )*(?:ONLY )?({QNAME})(.*)$",
    re.IGNORECASE | re.S,
)
_BOUNDED = re.compile(r"\b(?:WHERE|LIMIT)\b", re.IGNORECASE)
_TRIVIAL_WHERE = re.compile(
    r"\bWHERE (?:TRUE|1 ?= ?1|'' ?= ?'')(?: RETURNING\b.*)?$", re.IGNORECASE
)
_SA_MODULES = frozenset({"sa", "sqlalchemy", "sql", "sa.sql", "sqlalchemy.sql"})
_FILTERS = frozenset({"where", "filter", "filter_by"})
_MENTIONS_UPDATE = re.compile("update", re.IGNORECASE)


def _update_target(node: ast.AST) -> tuple[bool, str | None, bool] | None:
    """For a SQLAlchemy update construct: ``(bounded, table, is_orm_query)``, else ``None``.

    ``sa.update(t)``, ``update(t)``, ``t.update()`` (as the statement of an execute call) and
    ``session.query(M)...update({...})``, with any chain of method calls around them.
    """
    chain: list[tuple[str, ast.Call]] = []
    current: ast.AST = node
    while isinstance(current, ast.Call):
        func = current.func
        if isinstance(func, ast.Attribute):
            chain.append((func.attr, current))
            current = func.value
        elif isinstance(func, ast.Name):
            chain.append((func.id, current))
            current = func
            break
        else:
            break
    names = [name for name, _ in chain]
    if "update" not in names:
        return None
    index = names.index("update")
    update = chain[index][1]
    bounded = any(name in _FILTERS for name in names) or any(
        kw.arg == "whereclause" for kw in update.keywords
    )
    root = dotted(current) if isinstance(current, ast.Name | ast.Attribute) else None
    if index == len(chain) - 1 and (isinstance(update.func, ast.Name) or root in _SA_MODULES):
        table = update.args[0] if update.args else None
        return bounded or len(update.args) > 1, _table_of(table), False
    if "query" in names[index + 1 :]:
        return bounded, None, True
    owner = update.func.value if isinstance(update.func, ast.Attribute) else None
    return bounded or bool(update.args), _table_of(owner), False


def _table_of(node: ast.expr | None) -> str | None:
    if isinstance(node, ast.Call) and node.args:
        value = literal(node.args[0])
        return value if isinstance(value, str) else None
    if isinstance(node, ast.Name | ast.Attribute):
        name = dotted(node)
        return name.rsplit(".", 1)[-1] if name else None
    return None


@register
class UnboundedUpdate(Rule):
    """An UPDATE without WHERE rewrites every row of an existing table in one transaction.

    ## What it does
    Flags, in `upgrade()` and `downgrade()`: `UPDATE table SET ...` without a `WHERE` (or
    with `WHERE 1=1`/`WHERE true`) in `op.execute`/`conn.execute` SQL, and the SQLAlchemy
    forms `op.execute(table.update().values(...))`, `conn.execute(sa.update(table)...)` and
    `session.query(Model).update({...})` with no `.where(...)`/`.filter(...)`. A table created
    earlier in the same function is not flagged. A warning: a small table may not care.

    ## Why it matters
    One statement locks every row until the migration commits, so every write to the table
    waits for the whole rewrite; on PostgreSQL each updated row is a new row version, doubling
    the table until vacuum. The old values are overwritten, and no downgrade gets them back.

    ## Example
    ```python
    def upgrade():
        op.add_column("users", sa.Column("active", sa.Boolean(), nullable=True))
        op.execute("UPDATE users SET active = true")
    ```

    ## Use instead
    Backfill in batches by key range, each committed on its own, and only the rows that need
    it (or set a server default when adding the column):
    ```python
    def upgrade():
        op.add_column("users", sa.Column("active", sa.Boolean(), nullable=True))
        with op.get_context().autocommit_block():
            bind = op.get_bind()
            last = bind.execute(sa.text("SELECT max(id) FROM users")).scalar() or 0
            for start in range(0, last + 1, 10_000):
                bind.execute(
                    sa.text(
                        "UPDATE users SET active = true WHERE id >= :lo AND id < :hi"
                        " AND active IS NULL"
                    ),
                    {"lo": start, "hi": start + 10_000},
                )
    ```
    """

    code = "SM109"
    name = "unbounded-update"
    severity = Severity.WARNING
    fix = "update only the rows that need it, in key-range batches committed one by one"

    requires = (frozenset({"execute", "update"}),)

    def check(self, migration: Migration) -> Iterator[Violation]:
        if not migration.mentions(_MENTIONS_UPDATE, "update"):
            return  # the cheap test first: most scripts never update anything
        line = timeline(migration)
        by_node = {id(call.node): call for call in migration.calls}
        for function in direction_functions(migration):
            for node in migration.index.calls_in(function):
                if not isinstance(node.func, ast.Attribute):
                    continue
                call = by_node.get(id(node))
                if node.func.attr == "execute":
                    yield from self._execute(node, call, line)
                elif node.func.attr == "update":
                    target = _update_target(node)
                    if target is not None and target[2] and not target[0]:
                        yield Violation(
                            "updates every row of the queried model's table (query.update()"
                            " without a filter) in one transaction",
                            node=node,
                        )

    def _execute(self, node: ast.Call, call: Call | None, line: Timeline) -> Iterator[Violation]:
        created = line.before(call).tables if call is not None else frozenset()
        argument = call.sql_node if call is not None else (node.args[0] if node.args else None)
        if argument is None:
            return
        target = _update_target(argument)
        if target is not None:
            bounded, table, _ = target
            if not bounded and (table is None or ident(table) not in created):
                yield Violation(
                    f"updates every row of {table or 'the table'} (an update() without"
                    " .where()) in one transaction, locking them all until it commits",
                    node=node,
                )
            return
        if call is None:
            return
        for statement, known in line.statements(call):
            match = _UPDATE.match(statement)
            if match is None:
                continue
            table, rest = ident(match.group(1)), match.group(2)
            if table in known or (_BOUNDED.search(rest) and not _TRIVIAL_WHERE.search(rest)):
                continue
            yield Violation(
                f"updates every row of {table} (UPDATE without a WHERE clause) in one"
                " transaction, locking them all until it commits",
                node=node,
            )
