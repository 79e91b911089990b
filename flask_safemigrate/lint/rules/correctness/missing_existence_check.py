"""SM302 missing-existence-check."""

from __future__ import annotations

import ast
from collections.abc import Callable, Iterator
from typing import Any

from flask_safemigrate.lint.calls import (
    INSPECTOR_METHODS,
    Call,
    dotted,
    guard_aliases,
    guard_call,
    is_missing,
    keyword,
    literal,
    nodes_below,
)
from flask_safemigrate.lint.helpers.arguments import has_kwargs, name_value
from flask_safemigrate.lint.helpers.enums import enum_name, enum_of, enum_variables
from flask_safemigrate.lint.helpers.functions import (
    FunctionNode,
    last_name,
    migration_functions,
    statements,
)
from flask_safemigrate.lint.index import op_facts
from flask_safemigrate.lint.inline import migration_direction, multidb_shape
from flask_safemigrate.lint.model import Migration, Rule, Violation
from flask_safemigrate.lint.registry import register
from flask_safemigrate.report import Severity

Guards = frozenset[str] | None
GuardTest = Callable[[ast.expr], Guards]


def scan(
    body: list[ast.stmt], test: GuardTest | None = None, guards: Guards = None
) -> Iterator[tuple[ast.AST, Guards]]:
    """Every expression node below ``body``, with the existence checks (``if``) around it.

    ``test`` tells whether an ``if`` condition is an existence check and which names it
    mentions; without it nothing counts as guarded.
    """
    for stmt in body:
        if isinstance(stmt, ast.If):
            yield from _expr_nodes(stmt.test, guards)
            inner = guards
            names = test(stmt.test) if test is not None else None
            if names is not None:
                inner = (guards or frozenset()) | names
            yield from scan(stmt.body, test, inner)
            yield from scan(stmt.orelse, test, inner)
            continue
        for field_name, value in ast.iter_fields(stmt):
            if field_name in {"annotation", "returns", "type_comment"}:
                continue
            items = value if isinstance(value, list) else [value]
            for item in items:
                if isinstance(item, ast.stmt):
                    yield from scan([item], test, guards)
                elif isinstance(item, ast.excepthandler | ast.match_case):
                    for sub_name, sub in ast.iter_fields(item):
                        if sub_name == "body":
                            yield from scan(sub, test, guards)
                        elif isinstance(sub, ast.AST):
                            yield from _expr_nodes(sub, guards)
                elif isinstance(item, ast.AST):
                    yield from _expr_nodes(item, guards)


def _expr_nodes(node: ast.AST, guards: Guards) -> Iterator[tuple[ast.AST, Guards]]:
    for sub in nodes_below(node):
        yield sub, guards


def _inspects(node: ast.AST, aliases: frozenset[str]) -> bool:
    """A call into ``guards`` or to an inspector method (also at the end of a call chain).

    Only the call itself counts: callers look at every node of an expression anyway, so
    also walking below each call (what :func:`calls.is_guard` does) would find nothing new.
    """
    if not isinstance(node, ast.Call):
        return False
    if isinstance(node.func, ast.Attribute) and node.func.attr in INSPECTOR_METHODS:
        return True  # `sa.inspect(bind).has_table(...)`
    return guard_call(node, aliases)


def guard_helpers(tree: ast.Module, aliases: frozenset[str]) -> frozenset[str]:
    """Module-level helper functions that ask the inspector or ``guards`` (``_has_index()``)."""
    multidb = multidb_shape(tree)
    return frozenset(
        node.name
        for node in tree.body
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        and migration_direction(node.name, multidb) is None
        and any(_inspects(sub, aliases) for sub in nodes_below(node))
    )


def guard_test(
    tree: ast.Module,
    function: FunctionNode,
    helpers: frozenset[str] | None = None,
    aliases: frozenset[str] | None = None,
) -> GuardTest:
    """The existence-check test for ``if`` conditions inside ``function``.

    Beyond what :func:`calls.is_guard` knows (``guards.*`` and inspector methods in the
    condition), a condition counts when it calls a module-level helper that asks the
    inspector (see :func:`guard_helpers`), or uses a variable assigned from such a call
    (``tables = inspector.get_table_names()`` then ``if "users" not in tables:``).
    """
    if aliases is None:
        aliases = guard_aliases(tree)
    if helpers is None:
        helpers = guard_helpers(tree, aliases)
    known_aliases = aliases

    def asks(nodes: list[ast.AST]) -> bool:
        for sub in nodes:  # only calls can ask anything
            if isinstance(sub, ast.Call) and (
                _inspects(sub, known_aliases) or dotted(sub.func) in helpers
            ):
                return True
        return False

    def strings(nodes: list[ast.AST]) -> frozenset[str]:
        """:func:`calls.strings_in` over the nodes of an expression."""
        return frozenset(
            sub.value
            for sub in nodes
            if isinstance(sub, ast.Constant) and isinstance(sub.value, str)
        )

    probes: dict[str, frozenset[str]] | None = None

    def find_probes() -> dict[str, frozenset[str]]:
        """Variables assigned from existence checks, with the names those checks mention."""
        found: dict[str, frozenset[str]] = {}
        for node in statements(function.body):
            if not isinstance(node, ast.Assign | ast.AnnAssign) or node.value is None:
                continue
            nodes = nodes_below(node.value)  # one walk for the three questions below
            referenced = [
                found[sub.id] for sub in nodes if isinstance(sub, ast.Name) and sub.id in found
            ]
            if referenced or asks(nodes):
                names = strings(nodes).union(*referenced)
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                for target in targets:
                    if isinstance(target, ast.Name):
                        found[target.id] = names
        return found

    def test(expr: ast.expr) -> Guards:
        nonlocal probes
        nodes = nodes_below(expr)
        if asks(nodes):
            return strings(nodes)
        names = {sub.id for sub in nodes if isinstance(sub, ast.Name)}
        if not names:
            return None
        if probes is None:
            probes = find_probes()
        used = [probes[name] for name in sorted(names) if name in probes]
        if used:
            return strings(nodes).union(*used)
        return None

    return test


_EXISTENCE_OPS: dict[str, tuple[str, str, bool]] = {
    # op name: (verb, object kind, creates)
    "create_table": ("creates", "table", True),
    "drop_table": ("drops", "table", False),
    "add_column": ("adds", "column", True),
    "drop_column": ("drops", "column", False),
    "create_index": ("creates", "index", True),
    "drop_index": ("drops", "index", False),
    "create_unique_constraint": ("creates", "unique constraint", True),
    "create_foreign_key": ("creates", "foreign key", True),
    "create_check_constraint": ("creates", "check constraint", True),
    "create_primary_key": ("creates", "primary key", True),
    "drop_constraint": ("drops", "constraint", False),
}


def _object_name(call: Call) -> str | None:
    if call.name in {"create_table", "drop_table"}:
        return call.table
    if call.name in {"add_column", "drop_column"}:
        return call.column
    param = "index_name" if call.name in {"create_index", "drop_index"} else "constraint_name"
    value = name_value(call.param(param))
    return value if isinstance(value, str) else None


_GUARD_OF: dict[str, str] = {
    # op name: the guards helper that asks whether it should go ahead
    "create_table": "table_missing",
    "drop_table": "table_exists",
    "add_column": "column_missing",
    "drop_column": "column_exists",
    "create_index": "index_missing",
    "drop_index": "index_exists",
    "create_unique_constraint": "unique_missing",
    "create_foreign_key": "foreign_key_missing",
    "create_check_constraint": "check_missing",
    "create_primary_key": "constraint_missing",
    "drop_constraint": "constraint_exists",
}


# Ops whose Alembic form takes if_not_exists= / if_exists= (Alembic 1.16+; drop_constraint
# on ``op`` only, not in a batch block).
_FLAGGED_OPS = frozenset(
    {"create_table", "drop_table", "add_column", "drop_column", "create_index", "drop_index"}
)


def _help(call: Call, name: str | None, dialects: frozenset[str]) -> str:
    """The guard for this very op (``guards.column_missing("orders", "note")``): a help that
    said ``guards.table_missing(...)`` for every op sent readers to the wrong helper.

    The flag is offered where the database can run it: ``ADD COLUMN IF NOT EXISTS`` and
    ``DROP COLUMN IF EXISTS`` are a syntax error on SQLite and MySQL (MariaDB and PostgreSQL
    have them), so for a column the guard is the only advice there."""
    guard = _GUARD_OF[call.name]
    tables = call.name in {"create_table", "drop_table"}
    args = [call.table] if tables else [call.table, name]
    shown = ", ".join(repr(a) for a in args) if all(args) else "..."
    advice = f"wrap it in `if guards.{guard}({shown}):` (from flask_safemigrate import guards)"
    flag = "if_not_exists=True" if _EXISTENCE_OPS[call.name][2] else "if_exists=True"
    if not (
        call.name in _FLAGGED_OPS or (call.name == "drop_constraint" and call.receiver == "op")
    ):
        return advice
    if call.name not in {"add_column", "drop_column"} or dialects == {"postgresql"}:
        return f"{advice} or pass {flag}"
    if dialects == {"sqlite"}:
        return advice  # SQLite: a syntax error
    if dialects == {"mysql"}:
        return f"{advice} or, on MariaDB only (MySQL rejects it), pass {flag}"
    return f"{advice} or, on PostgreSQL and MariaDB only (SQLite and MySQL reject it), pass {flag}"


def _label(call: Call, name: str | None) -> str:
    kind = _EXISTENCE_OPS[call.name][1]
    if call.name in {"create_table", "drop_table"}:
        return f"{kind} {name}" if name else f"a {kind}"
    if call.name in {"add_column", "drop_column"}:
        if name is None:
            return f"a {kind} of {call.table}" if call.table else f"a {kind}"
        return f"{kind} {call.table or '?'}.{name}"
    where = f" on {call.table}" if call.table else ""
    return f"{kind} {name}{where}" if name else f"an unnamed {kind}{where}"


@register
class MissingExistenceCheck(Rule):
    """A create or drop that is not idempotent: no existence check and no `IF [NOT] EXISTS`.

    ## What it does
    Reports, in `upgrade()` and `downgrade()`, creating or dropping a table, column, index,
    constraint or PostgreSQL enum type (`op.*`/`batch_op.*` `create_table`, `drop_table`,
    `add_column`, `drop_column`, `create_index`, `drop_index`, `create_*_constraint`,
    `create_foreign_key`, `create_primary_key`, `drop_constraint`, and `.create()`/`.drop()` of
    an `sa.Enum`/`postgresql.ENUM`) that is neither inside an existence check nor passed
    `if_not_exists=True`/`if_exists=True` (or `checkfirst=True` for enum types).

    An existence check is an `if` whose condition calls `flask_safemigrate.guards`, an
    inspector method (`inspector.get_table_names()`, `sa.inspect(bind).has_table(...)`, ...),
    a module-level helper that does, or a variable assigned from one. When the condition
    names objects (string constants), it must name this one: a check for the table does not
    protect adding a column to it. An index or constraint on a table created earlier in the
    same guarded block is covered by the table's check.

    ## Why it matters
    MySQL and MariaDB cannot roll back DDL: each statement commits on its own. When a
    migration fails half-way, the objects it already created stay, the version table does
    not move, and running the migration again dies on "already exists" (or "does not exist"
    for a drop), so someone has to repair the database by hand, usually during a deploy.

    ## Example
    ```python
    def upgrade():
        op.create_table("users", sa.Column("id", sa.Integer(), primary_key=True))
        op.add_column("orders", sa.Column("note", sa.Text(), nullable=True))
    ```

    ## Use instead
    ```python
    from flask_safemigrate import guards


    def upgrade():
        if guards.table_missing("users"):
            op.create_table("users", sa.Column("id", sa.Integer(), primary_key=True))
        with op.batch_alter_table("orders") as batch_op:
            if guards.column_missing("orders", "note"):
                batch_op.add_column(sa.Column("note", sa.Text(), nullable=True))
        op.create_index("ix_orders_note", "orders", ["note"], if_not_exists=True)
    ```
    For a column, use the guard on SQLite and MySQL: `ADD COLUMN IF NOT EXISTS` and `DROP
    COLUMN IF EXISTS` (what `if_not_exists=True`/`if_exists=True` render) are a syntax error
    there; PostgreSQL and MariaDB run them.
    """

    code = "SM302"
    name = "missing-existence-check"
    severity = Severity.WARNING
    fix = (
        "wrap it in an existence check (`if guards.table_missing(...)`) or pass "
        "if_not_exists=True / if_exists=True"
    )

    requires = (op_facts(*_EXISTENCE_OPS) | {"create", "drop"},)

    def check(self, migration: Migration) -> Iterator[Violation]:
        # The creates and drops without if_[not_]exists: those are what may need a check.
        candidates = [
            c
            for c in migration.calls
            if c.name in _EXISTENCE_OPS
            and c.receiver != "connection"
            and not has_kwargs(c.node)
            and not _has_exists_flag(c.node)
        ]
        enums = ".create(" in migration.source or ".drop(" in migration.source
        if not enums and all(c.guarded for c in candidates):
            functions = []  # calls.py recognised every guard: no need for the wider scan
        elif not enums and _chains_suffice(migration):
            yield from self._check_calls(migration, candidates, _chain_guards(migration))
            return
        else:
            functions = migration_functions(migration.tree)
        guard_of: dict[int, Guards] = {}
        enum_ops: list[tuple[ast.Call, ast.Call, Guards]] = []
        variables: dict[str, ast.Call] | None = None
        aliases = guard_aliases(migration.tree) if functions else frozenset()
        helpers = guard_helpers(migration.tree, aliases) if functions else frozenset()
        for _, function in functions:
            test = guard_test(migration.tree, function, helpers, aliases)
            for node, guards in scan(function.body, test):
                if not isinstance(node, ast.Call):
                    continue
                guard_of[id(node)] = guards
                func = node.func
                if enums and isinstance(func, ast.Attribute) and func.attr in {"create", "drop"}:
                    if variables is None:
                        variables = enum_variables(migration)
                    enum = enum_of(func.value, variables)
                    if enum is not None:
                        enum_ops.append((node, enum, guards))
        yield from self._check_calls(
            migration, candidates, lambda call: guard_of.get(id(call.node))
        )
        for node, enum, guards in enum_ops:
            yield from self._enum_op(node, enum, guards)

    @staticmethod
    def _check_calls(
        migration: Migration, candidates: list[Call], guard_of: Callable[[Call], Guards]
    ) -> Iterator[Violation]:
        """The candidates' findings; ``guard_of(call)`` gives the checks around a call as the
        wider scan sees them (``None``: none, or the scan did not run)."""
        for call in candidates:
            verb, _, creates = _EXISTENCE_OPS[call.name]
            name = _object_name(call)
            guards = guard_of(call)
            if guards is None and call.guarded:
                guards = call.guard_names
            outcome = "already exists" if creates else "does not exist"
            if guards is None:
                yield Violation(
                    f"{verb} {_label(call, name)} without an existence check, so re-running "
                    f"a half-applied migration fails with '{outcome}'",
                    node=call.node,
                    help=_help(call, name, migration.config.dialects),
                )
            elif not _guard_covers(migration, call, name, guards):
                yield Violation(
                    f"{verb} {_label(call, name)} inside a check that does not name it (it "
                    f"checks {', '.join(sorted(guards))}), so a re-run can still fail with "
                    f"'{outcome}'",
                    node=call.node,
                    help=_help(call, name, migration.config.dialects),
                )

    def _enum_op(self, node: ast.Call, enum: ast.Call, guards: Guards) -> Iterator[Violation]:
        assert isinstance(node.func, ast.Attribute)
        checkfirst: Any = literal(keyword(node, "checkfirst"))
        if is_missing(checkfirst) and len(node.args) > 1:
            checkfirst = literal(node.args[1])
        if is_missing(checkfirst):
            if keyword(node, "checkfirst") is not None:
                return  # decided at run time: give it the benefit of the doubt
            checkfirst = last_name(enum.func) == "ENUM"  # postgresql.ENUM checks by default
        if checkfirst:
            return
        name = enum_name(enum)
        if guards is not None and (not guards or name is None or name in guards):
            return
        creates = node.func.attr == "create"
        verb = "creates" if creates else "drops"
        outcome = "already exists" if creates else "does not exist"
        label = f"enum type {name}" if name else "an enum type"
        yield Violation(
            f"{verb} {label} without checkfirst=True or an existence check, so re-running a "
            f"half-applied migration fails with '{outcome}'",
            node=node,
        )


def _chains_suffice(migration: Migration) -> bool:
    """Whether each call's ``if`` chain (from the index) is all that :func:`scan` would see
    around it: the calls are the index's own and no function has a ``match`` statement or a
    nested function's return annotation, where the two walks differ."""
    return migration.own_index and all(f.regular for f in migration.index.functions)


def _chain_guards(migration: Migration) -> Callable[[Call], Guards]:
    """The existence checks around each operation call, as :func:`scan` would find them, from
    the ``if`` statements the index recorded around it: no walk over the functions, and a
    test of each condition only where a call sits inside one."""
    index = migration.index
    where: dict[int, FunctionNode] = {}  # call node -> its function, filled on first need
    tests: dict[int, GuardTest] = {}
    helpers: list[frozenset[str]] = []
    names_of: dict[int, Guards] = {}  # per `if`: several calls may sit in one

    def guard_of(call: Call) -> Guards:
        if not call.ifs:
            return None
        if index.guard_ifs.issuperset(map(id, call.ifs)):
            # Each `if` asks the database in a way calls.py knows: the test below would
            # answer the names calls.py collected already.
            return call.guard_names
        if not where:
            where.update(
                (id(other.node), function.node)
                for function in index.functions
                for other in function.calls
            )
        function = where[id(call.node)]
        test = tests.get(id(function))
        if test is None:
            aliases = index.guard_aliases
            if not helpers:
                helpers.append(guard_helpers(migration.tree, aliases))
            test = tests[id(function)] = guard_test(migration.tree, function, helpers[0], aliases)
        guards: Guards = None
        for stmt in call.ifs:  # outermost first, as scan() meets them
            if id(stmt) not in names_of:
                names_of[id(stmt)] = test(stmt.test)
            names = names_of[id(stmt)]
            if names is not None:
                guards = (guards or frozenset()) | names
        return guards

    return guard_of


def _has_exists_flag(node: ast.Call) -> bool:
    for name in ("if_not_exists", "if_exists"):
        value = keyword(node, name)
        if value is not None and literal(value) not in (False, None):
            return True
    return False


def _guard_covers(
    migration: Migration, call: Call, name: str | None, guards: frozenset[str]
) -> bool:
    if not guards or name is None or name in guards:
        return True
    # An index or constraint of a table that this block just created behind its own check.
    return (
        call.name not in {"create_table", "drop_table"}
        and call.table is not None
        and call.table in guards
        and migration.created_before(call)
    )
