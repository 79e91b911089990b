"""Lint rules: correctness, reversibility and idempotency (3xx)."""

from __future__ import annotations

import ast
import re
from collections.abc import Callable, Iterator
from functools import partial
from typing import Any

from flask_safemigrate.history import is_empty_body
from flask_safemigrate.lint.calls import (
    INSPECTOR_METHODS,
    Call,
    column_calls,
    direction_of,
    dotted,
    guard_aliases,
    guard_call,
    is_missing,
    keyword,
    literal,
    nodes_below,
    strings_in,
)
from flask_safemigrate.lint.engine import Migration, Rule, Violation
from flask_safemigrate.lint.index import EXECUTE, op_fact, op_facts
from flask_safemigrate.lint.rules import register
from flask_safemigrate.report import Severity

# --------------------------------------------------------------------------- shared helpers

FunctionNode = ast.FunctionDef | ast.AsyncFunctionDef
Guards = frozenset[str] | None
GuardTest = Callable[[ast.expr], Guards]


def migration_functions(tree: ast.Module) -> list[tuple[str, FunctionNode]]:
    """Module-level ``upgrade``/``downgrade`` (and multi-db ``upgrade_<bind>``) with direction."""
    found = []
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            direction = direction_of(node.name)
            if direction is not None:
                found.append((direction, node))
    return found


def calls_by_function(migration: Migration) -> list[tuple[str, FunctionNode, list[Call]]]:
    """The collected calls grouped by the function that holds them, in source order."""
    if migration.own_index:  # the walk grouped them already
        return [(f.direction, f.node, f.calls) for f in migration.index.functions]
    grouped = []
    for direction, function in migration_functions(migration.tree):
        start, end = function.lineno, function.end_lineno or function.lineno
        calls = [c for c in migration.calls if start <= c.line <= end]
        grouped.append((direction, function, calls))
    return grouped


def last_name(node: ast.AST) -> str:
    """The last segment of a dotted callee (``sa.Column`` -> ``Column``), else ``""``."""
    name = dotted(node)
    return name.rsplit(".", 1)[-1] if name else ""


def statements(body: list[ast.stmt]) -> Iterator[ast.stmt]:
    """Every statement below ``body`` (nested blocks and functions too), no expressions.

    Depth first, each statement before the ones inside it (``body``, ``orelse``,
    ``finalbody``, then those of ``except`` and ``case`` clauses).
    """
    found: list[ast.stmt] = []
    pending = list(reversed(body))
    while pending:
        stmt = pending.pop()
        found.append(stmt)
        inside: list[ast.stmt] = []
        for field_name in ("body", "orelse", "finalbody", "handlers", "cases"):
            inner = getattr(stmt, field_name, None)
            if not isinstance(inner, list):
                continue
            for item in inner:
                if isinstance(item, ast.stmt):
                    inside.append(item)
                elif isinstance(item, ast.ExceptHandler | ast.match_case):
                    inside.extend(item.body)
        pending.extend(reversed(inside))
    return iter(found)


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
    return frozenset(
        node.name
        for node in tree.body
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        and direction_of(node.name) is None
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


def sql_argument(node: ast.Call) -> ast.expr | None:
    """The statement argument of an ``execute``-like call (positional or keyword)."""
    args = [a for a in node.args if not isinstance(a, ast.Starred)]
    if args:
        return args[0]
    for name in ("sqltext", "statement", "object_"):
        value = keyword(node, name)
        if value is not None:
            return value
    return None


_TEXT_FUNCS = frozenset(
    {"sa.text", "text", "sqlalchemy.text", "sa.sql.text", "sqlalchemy.sql.text"}
)
_TEXT_METHODS = frozenset({"bindparams", "columns", "execution_options"})


def unwrap_sql(node: ast.expr | None) -> ast.expr | None:
    """``sa.text("...").bindparams(...)`` -> the ``"..."`` node; other nodes unchanged."""
    while (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr in _TEXT_METHODS
    ):
        node = node.func.value
    if isinstance(node, ast.Call) and dotted(node.func) in _TEXT_FUNCS and node.args:
        return node.args[0]
    return node


def literal_sql(node: ast.expr | None) -> str | None:
    value = literal(unwrap_sql(node))
    return value if isinstance(value, str) else None


_SQL_COMMENTS = re.compile(r"--[^\n]*|/\*.*?\*/", re.S)


def strip_sql_comments(sql: str) -> str:
    return _SQL_COMMENTS.sub(" ", sql)


def assignments(scope: ast.AST) -> dict[str, list[tuple[int, ast.expr]]]:
    """Simple ``name = value`` bindings below ``scope``, by name, in source order."""
    found: dict[str, list[tuple[int, ast.expr]]] = {}
    for node in nodes_below(scope):
        if isinstance(node, ast.Assign):
            for target in node.targets:
                if isinstance(target, ast.Name):
                    found.setdefault(target.id, []).append((node.lineno, node.value))
        elif (
            isinstance(node, ast.AnnAssign)
            and node.value is not None
            and isinstance(node.target, ast.Name)
        ):
            found.setdefault(node.target.id, []).append((node.lineno, node.value))
    for bindings in found.values():
        bindings.sort(key=lambda b: b[0])
    return found


def value_before(
    bindings: dict[str, list[tuple[int, ast.expr]]], name: str, line: int
) -> ast.expr | None:
    """The value last assigned to ``name`` before ``line``."""
    value = None
    for at, node in bindings.get(name, ()):
        if at >= line:
            break
        value = node
    return value


def _is_constant_data(value: object, depth: int = 0) -> bool:
    if isinstance(value, str | int | float | bool) or value is None:
        return True
    if depth > 3:
        return False
    if isinstance(value, dict):
        return all(
            _is_constant_data(k, depth + 1) and _is_constant_data(v, depth + 1)
            for k, v in value.items()
        )
    return isinstance(value, tuple | list | set | frozenset) and all(
        _is_constant_data(v, depth + 1) for v in value
    )


class Bindings:
    """The simple assignments of one function, read on first use."""

    def __init__(self, scope: ast.AST) -> None:
        self.scope = scope
        self._found: dict[str, list[tuple[int, ast.expr]]] | None = None

    def before(self, name: str, line: int) -> ast.expr | None:
        """The value last assigned to ``name`` before ``line``."""
        if self._found is None:
            self._found = assignments(self.scope)
        return value_before(self._found, name, line)


def _constant_value(node: ast.expr | None) -> bool:
    value = literal(node)
    return not is_missing(value) and _is_constant_data(value)


def _constant_iterable(iterable: ast.expr, is_const: Callable[[ast.Name], bool]) -> bool:
    if (
        isinstance(iterable, ast.Call)
        and isinstance(iterable.func, ast.Attribute)
        and iterable.func.attr in {"items", "keys", "values"}
        and not iterable.args
    ):
        iterable = iterable.func.value  # RENAMES.items()
    if isinstance(iterable, ast.Name):
        return is_const(iterable)
    return _constant_value(iterable)


class Constants:
    """Which names hold literal constants of the script at a given place in a function.

    A name used inside ``function`` takes the latest binding before its use in that
    function (an assignment of a literal, or a ``for`` loop over a literal collection or a
    constant name); without one, the module-level binding, which must be a literal.
    """

    def __init__(self, tree: ast.Module, function: FunctionNode) -> None:
        self.tree = tree
        self.function = function
        self.module: dict[str, bool] = {}
        self.local: dict[str, list[tuple[tuple[int, int], bool]]] = {}
        self._built = False

    def _build(self) -> None:
        self._built = True
        tree, function = self.tree, self.function
        for stmt in tree.body:
            targets: list[ast.expr] = []
            ok = False
            if isinstance(stmt, ast.Assign):
                targets, ok = stmt.targets, _constant_value(stmt.value)
            elif isinstance(stmt, ast.AnnAssign) and stmt.value is not None:
                targets, ok = [stmt.target], _constant_value(stmt.value)
            elif isinstance(stmt, ast.Import | ast.ImportFrom):
                for alias in stmt.names:
                    self.module[(alias.asname or alias.name).split(".")[0]] = False
            elif isinstance(stmt, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                self.module[stmt.name] = False
            else:
                targets = [
                    sub
                    for sub in ast.walk(stmt)
                    if isinstance(sub, ast.Name) and isinstance(sub.ctx, ast.Store)
                ]
            for target in targets:
                for sub in ast.walk(target):
                    if isinstance(sub, ast.Name):
                        single = isinstance(target, ast.Name)
                        self.module[sub.id] = self.module.get(sub.id, True) and ok and single
        bindings: list[tuple[tuple[int, int], ast.AST, ast.AST | None]] = []
        for arg in ast.walk(function.args):
            if isinstance(arg, ast.arg):
                bindings.append(((function.lineno, 0), ast.Name(id=arg.arg), None))
        for node in ast.walk(function):
            where = (getattr(node, "lineno", 0), getattr(node, "col_offset", 0))
            if isinstance(node, ast.Assign):
                bindings.extend((where, target, node.value) for target in node.targets)
            elif isinstance(node, ast.AnnAssign | ast.AugAssign | ast.NamedExpr):
                value = node.value if isinstance(node, ast.AnnAssign) else None
                bindings.append((where, node.target, value))
            elif isinstance(node, ast.For | ast.AsyncFor):
                bindings.append((where, node.target, node))
            elif isinstance(node, ast.withitem) and node.optional_vars is not None:
                where = (node.optional_vars.lineno, node.optional_vars.col_offset)
                bindings.append((where, node.optional_vars, None))
            elif isinstance(node, ast.comprehension):
                where = (node.target.lineno, node.target.col_offset)
                bindings.append((where, node.target, None))
        for where, bound, source in sorted(bindings, key=lambda b: b[0]):
            if isinstance(source, ast.For | ast.AsyncFor):
                ok = _constant_iterable(source.iter, partial(self._before, where=where))
            else:
                ok = (
                    isinstance(bound, ast.Name)
                    and isinstance(source, ast.expr)
                    and _constant_value(source)
                )
            for sub in ast.walk(bound):
                if isinstance(sub, ast.Name):
                    self.local.setdefault(sub.id, []).append((where, ok))

    def _before(self, name: ast.Name, where: tuple[int, int]) -> bool:
        found: bool | None = None
        for at, ok in self.local.get(name.id, ()):
            if at >= where:
                break
            found = ok
        if found is None:
            return self.module.get(name.id, False)
        return found

    def __call__(self, name: ast.Name) -> bool:
        """Whether ``name`` (a use inside the function) holds a constant there."""
        if not self._built:
            self._build()
        return self._before(name, (name.lineno, name.col_offset))


def enum_constructor(node: ast.AST) -> bool:
    """``sa.Enum(...)`` / ``postgresql.ENUM(...)`` (not the standard library's ``enum.Enum``)."""
    if not isinstance(node, ast.Call):
        return False
    name = dotted(node.func) or ""
    return name.rsplit(".", 1)[-1] in {"Enum", "ENUM"} and not name.startswith("enum.")


def enum_name(call: ast.Call) -> str | None:
    """The database type name of an enum: ``name=``, else derived from a Python enum class."""
    name = literal(keyword(call, "name"))
    if isinstance(name, str):
        return name
    if call.args and not isinstance(call.args[0], ast.Constant | ast.Starred):
        source = dotted(call.args[0])
        if source:
            return source.rsplit(".", 1)[-1].lower()
    return None


def enum_makes_type(call: ast.Call) -> bool:
    """Whether creating a table with this enum also creates a database type."""
    return literal(keyword(call, "create_type")) is not False and (
        literal(keyword(call, "native_enum")) is not False
    )


def enum_variables(tree: ast.Module) -> dict[str, ast.Call]:
    """Names bound to enum constructors anywhere in the script (module level or in functions)."""
    found: dict[str, ast.Call] = {}
    for name, bindings in assignments(tree).items():
        for _, value in bindings:
            if enum_constructor(value):
                assert isinstance(value, ast.Call)
                found[name] = value
    return found


def enum_of(node: ast.AST, variables: dict[str, ast.Call]) -> ast.Call | None:
    if enum_constructor(node):
        assert isinstance(node, ast.Call)
        return node
    if isinstance(node, ast.Name):
        return variables.get(node.id)
    return None


def type_name(raw: str) -> str:
    """A SQL type identifier as PostgreSQL stores it: schema dropped, unquoted folded."""
    last = raw.strip().rsplit(".", 1)[-1].strip()
    if len(last) >= 2 and last[0] == last[-1] == '"':
        return last[1:-1]
    return last.lower()


def describe(node: ast.AST, limit: int = 50) -> str:
    text = ast.unparse(node)
    return text if len(text) <= limit else text[: limit - 3] + "..."


# --------------------------------------------------------------------------- rules


@register
class UnparseableScript(Rule):
    """The script cannot be read or parsed.

    ## What it does
    Reports a script with a syntax error, bytes that are not valid UTF-8, or that cannot be
    read. The engine reports this itself; the rest of the run goes on.

    ## Why it matters
    Alembic imports every script in the versions directory, so one broken file stops every
    `flask db` command, including the upgrade of a deploy.

    ## Example
    ```python
    def upgrade():
        op.add_column("users", sa.Column("email", sa.String(120))
    ```

    ## Use instead
    ```python
    def upgrade():
        op.add_column("users", sa.Column("email", sa.String(120)))
    ```
    """

    code = "SM313"
    name = "unparseable-script"
    fix = "fix the file so that Python can parse it"


@register
class MissingDowngrade(Rule):
    """The script cannot be downgraded: no `downgrade()`, or an empty one after a real upgrade.

    ## What it does
    Reports a revision script without a `downgrade()` function, and a `downgrade()` whose
    body is only `pass`, `...` or a docstring while `upgrade()` does work. Multi-database
    scripts are checked per bind (`upgrade_<bind>` against `downgrade_<bind>`). A downgrade
    that raises on purpose, such as `raise NotImplementedError("irreversible: ...")`, is an
    explicit decision and is not reported.

    ## Why it matters
    An empty downgrade looks reversible but is not: `flask db downgrade` moves the version
    table back while the schema stays as it is, so the next upgrade fails on objects that
    already exist, and a rollback during an incident silently does nothing. A missing
    function makes the downgrade crash half-way through a multi-revision rollback.

    ## Example
    ```python
    def upgrade():
        op.add_column("users", sa.Column("email", sa.String(120), nullable=True))


    def downgrade():
        pass
    ```

    ## Use instead
    ```python
    def downgrade():
        op.drop_column("users", "email")


    # or, when the change really cannot be undone, say so:
    def downgrade():
        raise NotImplementedError("irreversible: the old values were discarded")
    ```
    """

    code = "SM301"
    name = "missing-downgrade"
    severity = Severity.ERROR
    fix = "write a downgrade() that undoes upgrade(), or raise NotImplementedError if it cannot"

    def check(self, migration: Migration) -> Iterator[Violation]:
        functions: dict[str, FunctionNode] = {}
        for node in migration.tree.body:
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                functions[node.name] = node
        upgrades = [name for name in functions if direction_of(name) == "upgrade"]
        if not upgrades and migration.info is None:
            return  # not a revision script
        if "downgrade" not in functions:
            yield Violation(
                "the script has no downgrade() function, so `flask db downgrade` past this "
                "revision fails",
                line=1,
                col=1,
            )
        for name in upgrades:
            counterpart = "down" + name[2:]
            upgrade, downgrade = functions[name], functions.get(counterpart)
            if downgrade is None:
                if counterpart != "downgrade":
                    yield Violation(
                        f"{name}() has no matching {counterpart}(), so downgrading that "
                        "database fails",
                        line=1,
                        col=1,
                    )
                continue
            if is_empty_body(downgrade.body) and not is_empty_body(upgrade.body):
                yield Violation(
                    f"{counterpart}() is empty while {name}() changes the database; a "
                    "downgrade would move the version back and leave the changes in place",
                    node=downgrade,
                )


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


def name_value(node: ast.expr | None) -> Any:
    """The literal value of a name argument; also unwraps ``batch_op.f("...")``."""
    if (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr == "f"
        and len(node.args) == 1
    ):
        node = node.args[0]
    return literal(node)


def _object_name(call: Call) -> str | None:
    if call.name in {"create_table", "drop_table"}:
        return call.table
    if call.name in {"add_column", "drop_column"}:
        return call.column
    param = "index_name" if call.name in {"create_index", "drop_index"} else "constraint_name"
    value = name_value(call.param(param))
    return value if isinstance(value, str) else None


def has_kwargs(node: ast.Call) -> bool:
    """Whether the call passes ``**kwargs``, which may hold any keyword."""
    return any(kw.arg is None for kw in node.keywords)


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
                        variables = enum_variables(migration.tree)
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
                )
            elif not _guard_covers(migration, call, name, guards):
                yield Violation(
                    f"{verb} {_label(call, name)} inside a check that does not name it (it "
                    f"checks {', '.join(sorted(guards))}), so a re-run can still fail with "
                    f"'{outcome}'",
                    node=call.node,
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


def _column_type(column: ast.Call) -> ast.expr | None:
    type_ = keyword(column, "type_")
    if type_ is not None:
        return type_
    args = [a for a in column.args if not isinstance(a, ast.Starred)]
    if args and isinstance(args[0], ast.Constant) and isinstance(args[0].value, str):
        args = args[1:]
    return args[0] if args else None


def _is_boolean(type_: ast.expr | None) -> bool:
    if type_ is None:
        return False
    node = type_.func if isinstance(type_, ast.Call) else type_
    return last_name(node) in {"Boolean", "BOOLEAN"}


def _column_name(column: ast.Call) -> str:
    name = literal(column.args[0]) if column.args else literal(keyword(column, "name"))
    return name if isinstance(name, str) else "?"


@register
class BooleanWithoutServerDefault(Rule):
    """A boolean column without a `server_default`, where existing rows or inserts need one.

    ## What it does
    Reports an `sa.Column(..., sa.Boolean(), ...)` without `server_default=` (or with
    `server_default=None`):

    - in `create_table` (or `add_column` on a table created earlier in the same function),
      when the column is `nullable=False`;
    - in `add_column` (`op` or `batch_op`) on an existing table, always: a NOT NULL column
      cannot be added to a table with rows, and a nullable one leaves every existing row
      NULL.

    ## Why it matters
    A Python-side `default=False` on the model exists only in the ORM: the database knows
    nothing about it. Adding a NOT NULL boolean fails on every table that has rows
    ("column contains null values"); a nullable one gives old rows NULL, a third state that
    `WHERE is_active = false` does not match. Inserts from raw SQL, other services or
    fixtures that do not set the column fail on a NOT NULL boolean without a default.

    ## Example
    ```python
    op.add_column("users", sa.Column("is_active", sa.Boolean(), nullable=False))
    ```

    ## Use instead
    ```python
    op.add_column(
        "users",
        sa.Column("is_active", sa.Boolean(), nullable=False, server_default=sa.false()),
    )
    ```
    """

    code = "SM303"
    name = "boolean-without-server-default"
    severity = Severity.WARNING
    fix = 'give the column a server default: server_default=sa.false() (or sa.text("false"))'

    requires = (
        frozenset({"Boolean", "BOOLEAN"}),
        op_facts("create_table", receivers=("op",)) | op_facts("add_column"),
    )

    def check(self, migration: Migration) -> Iterator[Violation]:
        for call in migration.calls:
            if call.name == "create_table" and call.receiver == "op":
                new_table, table = True, call.table
                columns = [c for a in call.node.args[1:] for c in column_calls(a)]
                columns += [c for kw in call.node.keywords for c in column_calls(kw.value)]
            elif call.name == "add_column" and call.receiver in {"op", "batch_op"}:
                table = call.table
                new_table = migration.created_before(call)
                node = call.param("column")
                columns = list(column_calls(node)) if node is not None else []
            else:
                continue
            for column in columns:
                if not _is_boolean(_column_type(column)):
                    continue
                default = keyword(column, "server_default")
                if default is not None and literal(default) is not None:
                    continue
                not_null = literal(keyword(column, "nullable")) is False
                where = f"{table or '?'}.{_column_name(column)}"
                if not_null:
                    consequence = (
                        "inserts that do not set it fail"
                        if new_table
                        else "adding it fails on a table that has rows"
                    )
                    yield Violation(
                        f"column {where} is a NOT NULL boolean without server_default; "
                        f"{consequence}",
                        node=column,
                    )
                elif not new_table:
                    yield Violation(
                        f"adds boolean column {where} without server_default; every existing "
                        "row gets NULL, which neither `= true` nor `= false` matches",
                        node=column,
                    )


@register
class IndexBeforeColumn(Rule):
    """An index is created on a column that the same function only adds later.

    ## What it does
    Reports `create_index` (`op` or `batch_op`) naming, in `columns`, a column that an
    `add_column` on the same table adds further down the same `upgrade()`/`downgrade()`.

    ## Why it matters
    Operations run in order: the index is created before its column exists, so the migration
    fails ("column does not exist"). On MySQL the statements that ran before it stay
    committed, leaving a half-applied migration to repair by hand.

    ## Example
    ```python
    def upgrade():
        op.create_index("ix_users_email", "users", ["email"])
        op.add_column("users", sa.Column("email", sa.String(120), nullable=True))
    ```

    ## Use instead
    ```python
    def upgrade():
        op.add_column("users", sa.Column("email", sa.String(120), nullable=True))
        op.create_index("ix_users_email", "users", ["email"])
    ```
    """

    code = "SM304"
    name = "index-before-column"
    severity = Severity.ERROR
    fix = "move the create_index after the add_column of its column"

    requires = (op_facts("create_index"), op_facts("add_column"))

    def check(self, migration: Migration) -> Iterator[Violation]:
        for _, _, calls in calls_by_function(migration):
            first_added: dict[tuple[str | None, str | None], int] = {}
            for position, call in enumerate(calls):
                if call.name == "add_column" and call.receiver != "connection":
                    first_added.setdefault((call.table, call.column), position)
            for position, call in enumerate(calls):
                if call.name != "create_index" or call.receiver == "connection":
                    continue
                columns = call.value("columns")
                if not isinstance(columns, list | tuple):
                    continue
                for column in columns:
                    if not isinstance(column, str):
                        continue
                    added = first_added.get((call.table, column))
                    if added is not None and added > position:
                        index = call.string("index_name") or "an index"
                        yield Violation(
                            f"creates {index} on {call.table}.{column} before that column is "
                            f"added (line {calls[added].line}), so the migration fails",
                            node=call.node,
                        )
                        break


def _is_str_expr(
    node: ast.AST | None,
    bindings: Bindings,
    line: int,
    depth: int = 0,
) -> bool:
    """Whether ``node`` evaluates to a Python ``str`` (not a SQLAlchemy construct)."""
    if node is None or depth > 8:
        return False
    if isinstance(node, ast.Constant):
        return isinstance(node.value, str)
    if isinstance(node, ast.JoinedStr):
        return True
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        return _is_str_expr(node.left, bindings, line, depth + 1) or _is_str_expr(
            node.right, bindings, line, depth + 1
        )
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Mod):
        return _is_str_expr(node.left, bindings, line, depth + 1)
    if (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr in {"format", "format_map", "join", "strip", "replace"}
    ):
        return _is_str_expr(node.func.value, bindings, line, depth + 1)
    if isinstance(node, ast.Name):
        return _is_str_expr(bindings.before(node.id, line), bindings, line, depth + 1)
    return False


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
    production, if the code path was never exercised).

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
        for _, function, calls in calls_by_function(migration):
            for call in calls:
                if call.receiver != "connection" or call.name != "execute":
                    continue
                bindings = scopes.setdefault(id(function), Bindings(function))
                statement = sql_argument(call.node)
                if _is_str_expr(statement, bindings, call.line):
                    yield Violation(
                        f"passes a plain string to {describe(call.node.func)}(); SQLAlchemy 2 "
                        "refuses to execute it (ObjectNotExecutableError)",
                        node=call.node,
                    )


_TRANSACTION_METHODS = frozenset({"begin", "commit", "rollback", "begin_nested"})
_TRANSACTION_SQL = re.compile(
    r"^\s*(?:COMMIT|ROLLBACK|BEGIN|START\s+TRANSACTION)(?:\s+(?:WORK|TRANSACTION))?\s*$",
    re.IGNORECASE,
)
_TRANSACTION_HINT = re.compile(
    r"\.(?:begin|commit|rollback|begin_nested)\b|\b(?:COMMIT|ROLLBACK|BEGIN|START)\b",
    re.IGNORECASE,
)
# Bodies of functions/DO blocks (`$$ ... $$`) and string literals, which hold `;` and `END`.
_SQL_QUOTED = re.compile(r"\$(\w*)\$.*?\$\1\$|'(?:[^']|'')*'", re.S)


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
    Reports, inside `upgrade()`/`downgrade()`, calls to `.begin()`, `.commit()`,
    `.rollback()` and `.begin_nested()` on anything (the bind, a connection, a session), and
    SQL that runs `COMMIT`, `ROLLBACK`, `BEGIN` or `START TRANSACTION` through `op.execute()`
    or a connection (statements inside function bodies and string literals do not count).

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
            for node in migration.index.calls_in(function):
                if not isinstance(node, ast.Call) or not isinstance(node.func, ast.Attribute):
                    continue
                attr = node.func.attr
                if attr in _TRANSACTION_METHODS:
                    found.append(
                        Violation(
                            f"calls {describe(node.func)}() inside the migration, which "
                            "already runs in Alembic's transaction; this breaks its atomicity",
                            node=node,
                        )
                    )
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


def _constant(node: ast.expr, constants: Constants) -> bool:
    if isinstance(node, ast.Constant):
        return True
    if isinstance(node, ast.Name):
        return constants(node)
    if isinstance(node, ast.JoinedStr):
        return all(
            not isinstance(v, ast.FormattedValue) or _constant(v.value, constants)
            for v in node.values
        )
    if isinstance(node, ast.BinOp):
        return all(_constant(leaf, constants) for leaf in _operands(node))
    if isinstance(node, ast.Tuple | ast.List):
        return all(_constant(e, constants) for e in node.elts)
    return False


def _operands(node: ast.expr, op: type[ast.operator] = ast.operator) -> list[ast.expr]:
    """The operands of a chain of ``op`` (``a + b + ... + z``), left to right.

    Iterative: a generated data migration may concatenate thousands of strings, and each
    ``+`` nests the chain one level deeper (recursion would exceed Python's limit).
    """
    leaves: list[ast.expr] = []
    stack = [node]
    while stack:
        current = stack.pop()
        if isinstance(current, ast.BinOp) and isinstance(current.op, op):
            stack += (current.right, current.left)
        else:
            leaves.append(current)
    return leaves


def _add_leaves(node: ast.expr) -> list[ast.expr]:
    return _operands(node, ast.Add)


def _formatting(
    node: ast.expr | None,
    constants: Constants,
    bindings: Bindings,
    line: int,
    depth: int = 0,
) -> str | None:
    """How SQL is built from run-time values, or ``None`` when it is not."""
    if node is None or depth > 8:
        return None
    if isinstance(node, ast.JoinedStr):
        return None if _constant(node, constants) else "an f-string"
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Mod):
        if not _is_str_expr(node.left, bindings, line):
            return None
        right = node.right
        values = list(right.values) if isinstance(right, ast.Dict) else [right]
        if all(v is not None and _constant(v, constants) for v in values):
            return _formatting(node.left, constants, bindings, line, depth + 1)
        return "%-formatting"
    if (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr in {"format", "format_map"}
        and _is_str_expr(node.func.value, bindings, line)
    ):
        arguments = [*node.args, *(kw.value for kw in node.keywords)]
        if all(_constant(a, constants) for a in arguments):
            return _formatting(node.func.value, constants, bindings, line, depth + 1)
        return "str.format()"
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        leaves = _add_leaves(node)
        if not any(_is_str_expr(leaf, bindings, line) for leaf in leaves):
            return None
        for leaf in leaves:
            inner = _formatting(leaf, constants, bindings, line, depth + 1)
            if inner is not None:
                return inner
        if all(_constant(leaf, constants) for leaf in leaves):
            return None
        return "string concatenation"
    if isinstance(node, ast.Name):
        value = bindings.before(node.id, line)
        return _formatting(value, constants, bindings, line, depth + 1)
    if isinstance(node, ast.Call) and (
        dotted(node.func) in _TEXT_FUNCS
        or (isinstance(node.func, ast.Attribute) and node.func.attr in _TEXT_METHODS)
    ):
        return _formatting(unwrap_sql(node), constants, bindings, line, depth + 1)
    return None


@register
class FormattedSql(Rule):
    """SQL built with an f-string, `%`, `.format()` or `+` from run-time values.

    ## What it does
    Reports `op.execute()`, `conn.execute()` and `exec_driver_sql()` calls whose SQL (directly,
    inside `sa.text(...)`, or through a variable assigned earlier in the function) is built by
    interpolating values: an f-string with placeholders, `%` formatting, `str.format()` or
    concatenation. Values that are literal constants of the script itself (a module-level
    `TABLE = "users"`, a loop over a literal tuple of table names) are not reported, since
    identifiers cannot be bind parameters.

    ## Why it matters
    Interpolated values are neither quoted nor escaped: a quote in the data breaks the
    statement half-way through a deploy, and anything that reaches the value from outside
    is SQL injection. The statement also differs per run, so it cannot be reviewed.

    ## Example
    ```python
    def upgrade():
        op.execute(f"UPDATE users SET plan = '{DEFAULT_PLAN}' WHERE plan IS NULL")
    ```

    ## Use instead
    ```python
    def upgrade():
        op.execute(
            sa.text("UPDATE users SET plan = :plan WHERE plan IS NULL").bindparams(
                plan=DEFAULT_PLAN
            )
        )
    ```
    """

    code = "SM307"
    name = "formatted-sql"
    severity = Severity.ERROR
    fix = 'use bind parameters: sa.text("... :value").bindparams(value=...), or SQL expressions'

    requires = (op_facts("execute", receivers=EXECUTE) | {"exec_driver_sql"},)

    def check(self, migration: Migration) -> Iterator[Violation]:
        executes = {id(c.node) for c in migration.calls if c.name == "execute"}
        if not executes and "exec_driver_sql" not in migration.source:
            return
        for _, function in migration_functions(migration.tree):
            constants: Constants | None = None
            bindings: Bindings | None = None
            for node in migration.index.calls_in(function):
                if not (
                    isinstance(node, ast.Call)
                    and isinstance(node.func, ast.Attribute)
                    and (id(node) in executes or node.func.attr == "exec_driver_sql")
                ):
                    continue
                if constants is None:
                    constants = Constants(migration.tree, function)
                if bindings is None:
                    bindings = Bindings(function)
                how = _formatting(sql_argument(node), constants, bindings, node.lineno)
                if how is not None:
                    yield Violation(
                        f"builds the SQL for {describe(node.func)}() with {how}; the "
                        "interpolated values are not quoted or escaped (SQL injection, broken "
                        "statements)",
                        node=node,
                    )


_SQLITE_UNSUPPORTED = {
    "alter_column": "change a column (ALTER COLUMN)",
    "drop_column": "drop a column that an index, key or constraint uses",
    "create_unique_constraint": "add a constraint",
    "create_foreign_key": "add a constraint",
    "create_check_constraint": "add a constraint",
    "create_primary_key": "add a constraint",
    "drop_constraint": "drop a constraint",
}
# alter_column keywords that only describe the column or rename it (SQLite can rename).
_RENAME_ONLY = frozenset(
    {
        "new_column_name",
        "existing_type",
        "existing_nullable",
        "existing_server_default",
        "existing_comment",
        "schema",
    }
)
_COLUMN_LIST_PARAMS = {
    "create_index": "columns",
    "create_unique_constraint": "columns",
    "create_primary_key": "columns",
    "create_foreign_key": "local_cols",
}


def _column_is_bound(column: ast.Call) -> bool:
    """Whether an ``sa.Column`` carries an index, a key or a constraint."""
    if any(literal(keyword(column, flag)) is True for flag in ("index", "unique", "primary_key")):
        return True
    return any(
        isinstance(arg, ast.Call)
        and last_name(arg.func) in {"ForeignKey", "CheckConstraint", "Identity", "Computed"}
        for arg in column.args
    )


def bound_columns(calls: list[Call]) -> set[tuple[str | None, str]]:
    """``(table, column)`` pairs that the script indexes, keys or constrains anywhere."""
    bound: set[tuple[str | None, str]] = set()
    for call in calls:
        if call.receiver == "connection":
            continue
        if call.name in _COLUMN_LIST_PARAMS:
            columns = call.value(_COLUMN_LIST_PARAMS[call.name])
            if isinstance(columns, list | tuple):
                bound.update((call.table, c) for c in columns if isinstance(c, str))
        elif call.name in {"add_column", "create_table"}:
            parts = [*call.node.args, *(k.value for k in call.node.keywords)]
            for part in parts:
                for column in column_calls(part):
                    name = _column_name(column)
                    if _column_is_bound(column):
                        bound.add((call.table, name))
    return bound


@register
class SqliteAlterOutsideBatch(Rule):
    """An ALTER that SQLite cannot run is issued outside a batch block.

    ## What it does
    When linting for SQLite, reports `op.alter_column`, `op.create_unique_constraint`,
    `op.create_foreign_key`, `op.create_check_constraint`, `op.create_primary_key` and
    `op.drop_constraint`, and `op.drop_column` of a column that the script itself shows to
    be indexed, keyed or constrained (an index, unique constraint, primary key or foreign
    key on it, or `index=True`/`unique=True`/`sa.ForeignKey` on its `sa.Column`). The same
    operations on `batch_op` inside `with op.batch_alter_table(...)` are fine. Not reported:
    an `alter_column` that only renames the column (`new_column_name=`), and dropping a plain
    column, both of which SQLite (3.25 and 3.35 onwards) does natively.

    ## Why it matters
    SQLite's `ALTER TABLE` can add, rename and drop plain columns but cannot change a
    column's type, nullability or default, cannot add or drop constraints, and refuses to
    drop a column that an index, key or constraint uses. Alembic raises
    `NotImplementedError` or SQLite rejects the statement, so the migration fails on SQLite
    (often the development and test database).

    ## Example
    ```python
    op.alter_column("users", "email", nullable=False)
    ```

    ## Use instead
    ```python
    with op.batch_alter_table("users") as batch_op:
        batch_op.alter_column("email", nullable=False)
    ```
    """

    code = "SM308"
    name = "sqlite-alter-outside-batch"
    severity = Severity.ERROR
    dialects = frozenset({"sqlite"})
    fix = "run it inside `with op.batch_alter_table(table) as batch_op:` on batch_op"

    requires = (op_facts(*_SQLITE_UNSUPPORTED, receivers=("op",)),)

    def check(self, migration: Migration) -> Iterator[Violation]:
        bound: set[tuple[str | None, str]] | None = None
        for call in migration.calls:
            if call.receiver != "op" or call.name not in _SQLITE_UNSUPPORTED:
                continue
            if (
                call.name == "alter_column"
                and call.has_keyword("new_column_name")
                and all(kw.arg in _RENAME_ONLY for kw in call.node.keywords)
            ):
                continue
            target = call.table or "a table"
            if call.name in {"alter_column", "drop_column"}:
                target = f"{call.table or '?'}.{call.column or '?'}"
            if call.name == "drop_column":
                if bound is None:
                    bound = bound_columns(migration.calls)
                if (call.table, call.column) not in bound:
                    continue
            yield Violation(
                f"op.{call.name}() on {target} outside a batch block; SQLite's ALTER TABLE "
                f"cannot {_SQLITE_UNSUPPORTED[call.name]}",
                node=call.node,
            )


_CREATE_TYPE = re.compile(
    r'\bCREATE\s+TYPE\s+((?:"[^"]+"|\w+)(?:\s*\.\s*(?:"[^"]+"|\w+))?)\s+AS\s+ENUM\b',
    re.IGNORECASE,
)
_DROP_TYPE = re.compile(
    r"\bDROP\s+TYPE\s+(?:IF\s+EXISTS\s+)?([^;]+?)\s*(?:\bCASCADE\b|\bRESTRICT\b|;|$)",
    re.IGNORECASE,
)


def _raises(function: FunctionNode) -> bool:
    return any(isinstance(stmt, ast.Raise) for stmt in function.body)


@register
class EnumTypeNotDropped(Rule):
    """The upgrade creates a PostgreSQL enum type that the downgrade never drops.

    ## What it does
    Collects the enum types the upgrade creates: a named `sa.Enum(...)` /
    `postgresql.ENUM(...)` in the columns of `create_table`/`add_column` (unless it has
    `create_type=False` or `native_enum=False`), an explicit `.create(bind)` of one, and
    `CREATE TYPE ... AS ENUM` run through `op.execute()`. Reports each type that the
    downgrade does not drop with `.drop(bind)` or `DROP TYPE`. Scripts whose downgrade is
    missing, empty or raises are left to `missing-downgrade`.

    ## Why it matters
    `op.drop_table()` and `op.drop_column()` do not drop the type the column used. After a
    downgrade the type stays behind, so the next upgrade fails with
    `type "status" already exists`, and `verify --roundtrip` finds a leftover.

    ## Example
    ```python
    def upgrade():
        op.create_table(
            "orders",
            sa.Column("id", sa.Integer(), primary_key=True),
            sa.Column("status", sa.Enum("new", "paid", name="order_status")),
        )


    def downgrade():
        op.drop_table("orders")
    ```

    ## Use instead
    ```python
    def downgrade():
        op.drop_table("orders")
        sa.Enum(name="order_status").drop(op.get_bind(), checkfirst=True)
    ```
    """

    code = "SM309"
    name = "enum-type-not-dropped"
    severity = Severity.WARNING
    dialects = frozenset({"postgresql"})
    fix = 'drop the type in downgrade(): sa.Enum(name="...").drop(op.get_bind(), checkfirst=True)'

    def check(self, migration: Migration) -> Iterator[Violation]:
        source = migration.source
        if (
            "Enum(" not in source
            and "ENUM(" not in source
            and not migration.mentions(_CREATE_TYPE, "enum")
        ):
            return
        functions = migration_functions(migration.tree)
        downgrades = [f for d, f in functions if d == "downgrade"]
        if not downgrades or any(is_empty_body(f.body) or _raises(f) for f in downgrades):
            return
        variables = enum_variables(migration.tree)
        created: dict[str, ast.AST] = {}
        for call in migration.upgrade_calls:
            for name, node in self._creations(call, variables):
                if name not in created or _before(node, created[name]):
                    created[name] = node
        for direction, function in functions:
            if direction != "upgrade":
                continue
            for node in migration.index.calls_in(function):
                if (
                    isinstance(node, ast.Call)
                    and isinstance(node.func, ast.Attribute)
                    and node.func.attr == "create"
                ):
                    enum = enum_of(node.func.value, variables)
                    explicit = enum_name(enum) if enum is not None else None
                    if explicit is not None and (
                        explicit not in created or _before(node, created[explicit])
                    ):
                        created[explicit] = node
        if not created:
            return
        dropped = self._drops(migration, downgrades, variables)
        for name, node in sorted(created.items(), key=lambda kv: _position(kv[1])):
            if name not in dropped:
                yield Violation(
                    f"creates PostgreSQL enum type {name} but downgrade() never drops it, so "
                    "the next upgrade fails with 'type already exists'",
                    node=node,
                )

    @staticmethod
    def _creations(call: Call, variables: dict[str, ast.Call]) -> Iterator[tuple[str, ast.AST]]:
        if call.name == "execute":
            sql = literal_sql(call.sql_node if call.receiver == "op" else sql_argument(call.node))
            for match in _CREATE_TYPE.finditer(strip_sql_comments(sql or "")):
                yield type_name(match.group(1)), call.node
            return
        if call.name == "create_table":
            parts: list[ast.expr] = [*call.node.args[1:], *(k.value for k in call.node.keywords)]
        elif call.name == "add_column":
            column = call.param("column")
            parts = [column] if column is not None else []
        else:
            return
        for part in parts:
            for column in column_calls(part):
                for sub in nodes_below(column):
                    enum = enum_of(sub, variables)
                    if enum is None or not enum_makes_type(enum):
                        continue
                    name = enum_name(enum)
                    if name is not None:
                        yield name, sub

    @staticmethod
    def _drops(
        migration: Migration, downgrades: list[FunctionNode], variables: dict[str, ast.Call]
    ) -> set[str]:
        dropped: set[str] = set()
        for function in downgrades:
            for node in migration.index.calls_in(function):
                if not isinstance(node, ast.Call):
                    continue
                func = node.func
                if isinstance(func, ast.Attribute) and func.attr == "drop":
                    enum = enum_of(func.value, variables)
                    name = enum_name(enum) if enum is not None else None
                    if name is not None:
                        dropped.add(name)
                        continue
                if isinstance(func, ast.Attribute) and func.attr in {"execute", "exec_driver_sql"}:
                    sql = literal_sql(sql_argument(node))
                    for match in _DROP_TYPE.finditer(strip_sql_comments(sql or "")):
                        dropped.update(type_name(n) for n in match.group(1).split(","))
                    continue
                # A project helper such as drop_enum("status") or guards.drop_enum(...).
                callee = dotted(func) or ""
                owner = callee.split(".")[0]
                if "drop" in last_name(func).lower() and owner not in {"op", "batch_op"}:
                    dropped.update(strings_in(node))
        return dropped


def _position(node: ast.AST) -> tuple[int, int]:
    return (getattr(node, "lineno", 0), getattr(node, "col_offset", 0))


def _before(node: ast.AST, other: ast.AST) -> bool:
    return _position(node) < _position(other)


_CONSTRAINT_OPS = frozenset(
    {
        "create_unique_constraint",
        "create_foreign_key",
        "create_check_constraint",
        "create_primary_key",
        "drop_constraint",
    }
)
# Constraint classes whose name may be given positionally: class -> index of ``name``.
_CONSTRAINT_CLASSES: dict[str, int | None] = {
    "UniqueConstraint": None,
    "ForeignKeyConstraint": 2,
    "CheckConstraint": 1,
    "ForeignKey": 3,
}
_CONSTRAINT_WORDS = {
    "UniqueConstraint": "unique constraint",
    "ForeignKeyConstraint": "foreign key",
    "CheckConstraint": "check constraint",
    "ForeignKey": "foreign key",
}


def _constraint_unnamed(call: ast.Call, position: int | None) -> bool:
    name = keyword(call, "name")
    if name is None and position is not None:
        args = call.args
        if any(isinstance(a, ast.Starred) for a in args[: position + 1]):
            return False
        name = args[position] if len(args) > position else None
    return name is None or literal(name) is None


@register
class UnnamedConstraint(Rule):
    """A constraint is created (or dropped) without a name.

    ## What it does
    Reports `create_unique_constraint`, `create_foreign_key`, `create_check_constraint`,
    `create_primary_key` and `drop_constraint` (`op` and `batch_op`) called with the name
    `None`, and, inside `create_table`/`add_column`, `sa.UniqueConstraint`,
    `sa.ForeignKeyConstraint`, `sa.CheckConstraint`, `sa.ForeignKey` and `unique=True`
    columns without a name. `op.f("uq_users_email")` is a name; primary keys created inside
    `create_table` are exempt.

    ## Why it matters
    The database invents the name, and each one invents a different one (`users_email_key`
    on PostgreSQL, `email` on MySQL, nothing usable on SQLite). A later migration that must
    drop or alter the constraint cannot name it portably, and `drop_constraint(None, ...)`
    fails outright. A naming convention on the metadata only helps while that metadata is
    unchanged; an explicit name keeps the script frozen in time.

    ## Example
    ```python
    op.create_unique_constraint(None, "users", ["email"])
    op.create_foreign_key(None, "orders", "users", ["user_id"], ["id"])
    ```

    ## Use instead
    ```python
    op.create_unique_constraint("uq_users_email", "users", ["email"])
    op.create_foreign_key("fk_orders_user_id_users", "orders", "users", ["user_id"], ["id"])
    ```
    """

    code = "SM310"
    name = "unnamed-constraint"
    severity = Severity.WARNING
    fix = (
        'name it explicitly (e.g. "uq_users_email") or through a naming convention '
        "rendered with op.f()"
    )

    requires = (op_facts(*_CONSTRAINT_OPS) | frozenset(_CONSTRAINT_CLASSES) | {"unique=True"},)

    def check(self, migration: Migration) -> Iterator[Violation]:
        for call in migration.calls:
            if call.receiver == "connection":
                continue
            if call.name in _CONSTRAINT_OPS:
                if name_value(call.param("constraint_name")) is None:
                    action = "drops" if call.name == "drop_constraint" else "creates"
                    what = call.name.removeprefix("create_").removeprefix("drop_")
                    yield Violation(
                        f"{action} a {what.replace('_', ' ')} on {call.table or 'a table'} "
                        "with name None; the database picks a name that differs per dialect, "
                        "so later migrations cannot refer to it",
                        node=call.node,
                    )
                continue
            if call.name == "create_table" and call.receiver == "op":
                parts = [*call.node.args[1:], *(k.value for k in call.node.keywords)]
            elif call.name == "add_column":
                column = call.param("column")
                parts = [column] if column is not None else []
            else:
                continue
            for part in parts:
                yield from self._inline(part, call.table)

    @staticmethod
    def _inline(part: ast.AST, table: str | None) -> Iterator[Violation]:
        where = table or "a table"
        for sub in nodes_below(part):
            if not isinstance(sub, ast.Call):
                continue
            kind = last_name(sub.func)
            if kind in _CONSTRAINT_CLASSES:
                if _constraint_unnamed(sub, _CONSTRAINT_CLASSES[kind]):
                    yield Violation(
                        f"creates an unnamed {_CONSTRAINT_WORDS[kind]} on {where}; the "
                        "database picks a name that differs per dialect, so later migrations "
                        "cannot refer to it",
                        node=sub,
                    )
            elif kind == "Column" and literal(keyword(sub, "unique")) is True:
                yield Violation(
                    f"column {where}.{_column_name(sub)} has unique=True, which creates an "
                    "unnamed unique constraint whose name differs per dialect",
                    node=sub,
                )


_MODEL_SEGMENTS = frozenset({"models", "model"})
_LIBRARY_ROOTS = frozenset(
    {"sqlalchemy", "alembic", "flask_sqlalchemy", "flask_migrate", "flask_safemigrate"}
)


@register
class AppModelImport(Rule):
    """The migration imports the application's models or its `db` object.

    ## What it does
    Reports imports (at module level or inside functions) of a module whose dotted path has
    a `models` or `model` segment (`from app.models import User`, `import shop.models`,
    `from ..models import Order`), of `models`/`model` from a package (`from app import
    models`), and of `db` (`from app import db`, `from app.extensions import db`). SQLAlchemy,
    Alembic and the Flask extensions themselves are not reported.

    ## Why it matters
    A migration must describe the schema as it was on the day it was written. Models keep
    changing: when a column is later renamed or removed, the old migration that queried
    through the model breaks, and a fresh database can no longer be built from the history.
    Importing the application also runs its import-time code, configuration and side effects
    inside the migration.

    ## Example
    ```python
    from app.models import User


    def upgrade():
        for user in User.query.all():
            ...
    ```

    ## Use instead
    ```python
    users = sa.table("users", sa.column("id", sa.Integer), sa.column("plan", sa.String))


    def upgrade():
        op.execute(users.update().where(users.c.plan.is_(None)).values(plan="free"))
    ```
    """

    code = "SM311"
    name = "app-model-import"
    severity = Severity.ERROR
    fix = "describe the tables you need with sa.table()/sa.column() inside the migration"

    requires = (frozenset({"models", "model", "db"}),)

    def check(self, migration: Migration) -> Iterator[Violation]:
        for node in statements(migration.tree.body):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    if self._model_module(alias.name):
                        yield Violation(
                            f"imports {alias.name}, the application's models; migrations must "
                            "not depend on code that keeps changing",
                            node=node,
                        )
                        break
            elif isinstance(node, ast.ImportFrom):
                module = node.module or ""
                shown = "." * node.level + module
                if self._model_module(module):
                    yield Violation(
                        f"imports from {shown}, the application's models; migrations must "
                        "not depend on code that keeps changing",
                        node=node,
                    )
                    continue
                if node.level == 0 and module.split(".")[0] in _LIBRARY_ROOTS:
                    continue
                names = [a.name for a in node.names if a.name in _MODEL_SEGMENTS | {"db"}]
                if names:
                    yield Violation(
                        f"imports {names[0]} from {shown}, the application's "
                        f"{'database object' if names[0] == 'db' else 'models'}; migrations "
                        "must not depend on code that keeps changing",
                        node=node,
                    )

    @staticmethod
    def _model_module(module: str) -> bool:
        parts = module.split(".")
        return parts[0] not in _LIBRARY_ROOTS and bool(_MODEL_SEGMENTS.intersection(parts))


_DDL_OPS = frozenset(
    {
        "create_table",
        "drop_table",
        "rename_table",
        "add_column",
        "drop_column",
        "alter_column",
        "create_index",
        "drop_index",
        "create_unique_constraint",
        "create_foreign_key",
        "create_check_constraint",
        "create_primary_key",
        "create_exclude_constraint",
        "drop_constraint",
        "create_table_comment",
        "drop_table_comment",
    }
)
_SQL_START = r"^\s*"
_DDL_SQL = re.compile(_SQL_START + r"(?:CREATE|ALTER|DROP|RENAME|COMMENT)\b", re.IGNORECASE)
_IDENT = r'((?:"[^"]+"|`[^`]+`|\w+)(?:\s*\.\s*(?:"[^"]+"|`[^`]+`|\w+))?)'
_DML_SQL = re.compile(
    _SQL_START
    + r"(?:INSERT\s+(?:IGNORE\s+)?INTO\s+"
    + _IDENT
    + r"|UPDATE\s+(?:ONLY\s+)?"
    + _IDENT
    + r"|DELETE\s+FROM\s+(?:ONLY\s+)?"
    + _IDENT
    + r"|MERGE\s+INTO\s+"
    + _IDENT
    + r"|(?:INSERT|UPDATE|DELETE|MERGE)\b)",
    re.IGNORECASE,
)
_SA_MODULES = frozenset({"sa", "sqlalchemy", "sql", "sa.sql", "sqlalchemy.sql", "expression"})


def _table_variables(tree: ast.Module) -> dict[str, str]:
    """Names bound to ``sa.table("x")``, ``sa.Table("x", ...)`` or ``op.create_table("x")``."""
    found: dict[str, str] = {}
    for name, bindings in assignments(tree).items():
        for _, value in bindings:
            table = _table_literal(value)
            if table is not None:
                found[name] = table
    return found


def _table_literal(node: ast.AST | None) -> str | None:
    if isinstance(node, ast.Call) and last_name(node.func) in {"table", "Table", "create_table"}:
        value = literal(node.args[0]) if node.args else literal(keyword(node, "table_name"))
        if isinstance(value, str):
            return value
    return None


def _table_of(node: ast.AST | None, tables: Callable[[], dict[str, str]]) -> str | None:
    if isinstance(node, ast.Name):
        return tables().get(node.id)
    return _table_literal(node)


def _expression_dml(
    node: ast.AST | None, tables: Callable[[], dict[str, str]]
) -> tuple[str, str | None] | None:
    """``(verb, table)`` for ``sa.update(t)...``/``t.insert()...`` expression chains."""
    current = node
    while isinstance(current, ast.Call):
        func = current.func
        attr = func.attr if isinstance(func, ast.Attribute) else dotted(func) or ""
        if attr in {"insert", "update", "delete"}:
            function_form = isinstance(func, ast.Name) or (
                isinstance(func, ast.Attribute) and dotted(func.value) in _SA_MODULES
            )
            if function_form:
                target = current.args[0] if current.args else keyword(current, "table")
            else:
                assert isinstance(func, ast.Attribute)
                target = func.value
            return attr, _table_of(target, tables)
        if not isinstance(func, ast.Attribute):
            return None
        current = func.value
    return None


def _sql_table(raw: str | None) -> str | None:
    return type_name(raw.replace("`", '"')) if raw else None


@register
class DataAndSchemaMixed(Rule):
    """One `upgrade()` both changes the schema and changes data.

    ## What it does
    Reports an `upgrade()` that runs DDL (`op`/`batch_op` create/drop/alter/add operations,
    or `CREATE`/`ALTER`/`DROP` SQL) and also changes rows: `op.bulk_insert()`, or an
    `op.execute()`/connection `execute()` of `INSERT`/`UPDATE`/`DELETE`/`MERGE` SQL or of an
    `sa.insert()`/`sa.update()`/`sa.delete()`/`table.update()` expression. Reported once, at
    the first data change. Filling a table created earlier in the same function (seeding a
    new lookup table) is not reported.

    ## Why it matters
    The data step runs while the DDL locks are held, so a backfill of a big table keeps the
    table locked for its whole duration. On MySQL the DDL has already committed when the data
    step fails, leaving the migration half-applied; and the two halves cannot be deployed or
    rolled back separately.

    ## Example
    ```python
    def upgrade():
        op.add_column("users", sa.Column("plan", sa.String(20), nullable=True))
        op.execute("UPDATE users SET plan = 'free'")
    ```

    ## Use instead
    ```python
    # revision 1: the schema change
    def upgrade():
        op.add_column("users", sa.Column("plan", sa.String(20), nullable=True))


    # revision 2 (its own migration): the backfill, in batches if the table is large
    def upgrade():
        op.execute("UPDATE users SET plan = 'free' WHERE plan IS NULL")
    ```
    """

    code = "SM312"
    name = "data-and-schema-mixed"
    severity = Severity.WARNING
    fix = "move the data change into its own migration (schema first, then data)"

    requires = (
        op_facts("execute", receivers=EXECUTE, upgrade=True)
        | op_facts("bulk_insert", upgrade=True),
    )

    def check(self, migration: Migration) -> Iterator[Violation]:
        found_tables: list[dict[str, str]] = []

        def tables() -> dict[str, str]:
            # Only a bulk_insert or an expression naming a table variable needs them.
            if not found_tables:
                found_tables.append(_table_variables(migration.tree))
            return found_tables[0]

        for direction, _, calls in calls_by_function(migration):
            if direction != "upgrade":
                continue
            has_ddl = False
            first_dml: tuple[Call, str] | None = None
            for call in calls:
                if call.receiver in {"op", "batch_op"} and call.name in _DDL_OPS:
                    has_ddl = True
                    continue
                if call.name not in {"execute", "bulk_insert"}:
                    continue
                found = self._dml(call, tables)
                if found is None:
                    continue
                verb, table = found
                if verb == "DDL":
                    has_ddl = True
                elif first_dml is None and (
                    table is None or not migration.created_before(call, table)
                ):
                    first_dml = (call, f"{verb} {table}" if table else verb)
            if has_ddl and first_dml is not None:
                call, what = first_dml
                yield Violation(
                    f"changes data ({what}) in the same upgrade() that changes the schema; "
                    "the data step runs under the DDL locks and, on MySQL, a failure leaves "
                    "the DDL applied",
                    node=call.node,
                )

    @staticmethod
    def _dml(call: Call, tables: Callable[[], dict[str, str]]) -> tuple[str, str | None] | None:
        """``(verb, table)`` of a data change, ``("DDL", None)`` for DDL SQL, else ``None``."""
        if call.name == "bulk_insert":
            return "INSERT", _table_of(call.param("table"), tables)
        statement = sql_argument(call.node) if call.receiver == "connection" else call.sql_node
        sql = literal_sql(statement)
        if sql is not None:
            text = strip_sql_comments(sql)
            match = _DML_SQL.match(text)
            if match is not None:
                verb = text.split()[0].upper()
                raw = next((g for g in match.groups() if g), None)
                return verb, _sql_table(raw)
            return ("DDL", None) if _DDL_SQL.match(text) else None
        found = _expression_dml(unwrap_sql(statement), tables)
        if found is not None:
            return found[0].upper(), found[1]
        return None
