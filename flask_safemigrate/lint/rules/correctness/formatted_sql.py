"""SM307 formatted-sql: SQL built with an f-string, `%`, `.format()` or `+` from run-time values."""

from __future__ import annotations

import ast
import re
from collections.abc import Callable, Iterator
from functools import partial

from flask_safemigrate.lint.calls import (
    dotted,
    is_missing,
    literal,
)
from flask_safemigrate.lint.helpers.bindings import Bindings, is_str_expr
from flask_safemigrate.lint.helpers.functions import FunctionNode, migration_functions
from flask_safemigrate.lint.helpers.labels import describe
from flask_safemigrate.lint.index import EXECUTE, op_facts
from flask_safemigrate.lint.model import Migration, Rule, Violation
from flask_safemigrate.lint.patterns import compiled_later
from flask_safemigrate.lint.registry import register
from flask_safemigrate.lint.sql import WRAPPER_FUNCS, WRAPPER_METHODS, sql_argument, unwrap_sql
from flask_safemigrate.report import Severity


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
        self.members: frozenset[str] | None = None  # see _class_constants
        # Classes the script imports (``from app.enums import RunState``): iterating one gives
        # its members, values the code defines.
        self.imported_classes: set[str] = set()
        self.values: dict[str, ast.expr] = {}  # while building: each name's latest value
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
                    name = (alias.asname or alias.name).split(".")[0]
                    self.module[name] = False
                    if isinstance(stmt, ast.ImportFrom) and name[:1].isupper():
                        self.imported_classes.add(name)
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
                ok = _constant_iterable(source.iter, partial(self.iterable, where=where))
            else:
                ok = (
                    isinstance(bound, ast.Name)
                    and isinstance(source, ast.expr)
                    and (
                        _constant_value(source)
                        or _constant(source, self)
                        or _catalog_read(source, self)
                    )
                )
                if isinstance(bound, ast.Name) and isinstance(source, ast.expr):
                    self.values[bound.id] = source
            for sub in ast.walk(bound):
                if isinstance(sub, ast.Name):
                    self.local.setdefault(sub.id, []).append((where, ok))

    def iterable(self, name: ast.Name, where: tuple[int, int]) -> bool:
        """Whether iterating ``name`` there gives constants: a constant collection, or a
        class the script imports (an enum of the code)."""
        return self._before(name, where) or (
            name.id in self.imported_classes and not self.local.get(name.id)
        )

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


_PURE_CALLS = frozenset({"json.dumps", "str", "int", "float", "repr"})
#: SQLAlchemy's SQL literals: ``sa.false().compile(bind)`` renders the dialect's FALSE.
_SQL_LITERALS = frozenset({"false", "true", "null"})


def _class_constants(tree: ast.Module) -> frozenset[str]:
    """``Cls.MEMBER`` for each member of a class of the script bound to a literal (enum
    members included, with their ``.value`` and ``.name``)."""
    found: set[str] = set()
    for stmt in tree.body:
        if not isinstance(stmt, ast.ClassDef):
            continue
        for item in stmt.body:
            if (
                isinstance(item, ast.Assign)
                and len(item.targets) == 1
                and isinstance(item.targets[0], ast.Name)
                and _constant_value(item.value)
            ):
                member = f"{stmt.name}.{item.targets[0].id}"
                found.update({member, f"{member}.value", f"{member}.name"})
    return frozenset(found)


def _constant(node: ast.expr, constants: Constants, bound: frozenset[str] = frozenset()) -> bool:
    """Whether ``node`` only holds values the script fixes (``bound``: names of an
    enclosing comprehension over constants)."""

    def constant(sub: ast.expr) -> bool:
        return _constant(sub, constants, bound)

    if isinstance(node, ast.Constant):
        return True
    if isinstance(node, ast.Name):
        return node.id in bound or constants(node)
    if isinstance(node, ast.Attribute):  # Status.ACTIVE.value of a class of the script
        root: ast.expr = node
        while isinstance(root, ast.Attribute):
            root = root.value
        if isinstance(root, ast.Name) and root.id in bound:
            return True  # state.value, for state in an enum of constants
        if constants.members is None:
            constants.members = _class_constants(constants.tree)
        return (dotted(node) or "") in constants.members
    if isinstance(node, ast.IfExp):  # "CONCURRENTLY " if concurrently else "": a literal
        return constant(node.body) and constant(node.orelse)
    if isinstance(node, ast.Subscript):  # NAMES[0], MAP[dialect]: one of its constants
        return constant(node.value)
    if isinstance(node, ast.Call):
        return _constant_call(node, constants, bound)
    if isinstance(node, ast.JoinedStr):
        return all(not isinstance(v, ast.FormattedValue) or constant(v.value) for v in node.values)
    if isinstance(node, ast.BinOp):
        return all(constant(leaf) for leaf in _operands(node))
    if isinstance(node, ast.Tuple | ast.List):
        return all(constant(e) for e in node.elts)
    if isinstance(node, ast.Dict):
        return all(k is not None and constant(k) for k in node.keys) and all(
            constant(v) for v in node.values
        )
    if isinstance(node, ast.GeneratorExp | ast.ListComp | ast.SetComp):
        names = set(bound)
        for generator in node.generators:
            iterable = generator.iter
            if not (
                constant(iterable)
                or (isinstance(iterable, ast.Name) and constants.iterable(iterable, (0, 0)))
            ):
                return False
            names.update(n.id for n in ast.walk(generator.target) if isinstance(n, ast.Name))
        return _constant(node.elt, constants, frozenset(names))
    return False


#: The server's own catalogs: the names read from them are identifiers the database has,
#: not outside input (``SELECT relname FROM pg_class WHERE ...``).
_CATALOG = compiled_later(
    r"^(?:pg_catalog\.)?pg_\w+$|^information_schema\.\w+$|^sqlite_(?:master|schema)$",
    re.IGNORECASE,
)
_FROM = compiled_later(r"\b(?:FROM|JOIN)\s+([\w.\"]+)", re.IGNORECASE)
_ROWS = frozenset({"first", "one", "one_or_none", "fetchone", "fetchall", "all", "scalar"})


def _catalog_read(node: ast.expr, constants: Constants) -> bool:
    """Whether ``node`` is rows of a constant query that reads only the server's catalogs
    (``bind.exec_driver_sql(QUERY).first()``)."""
    while (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr in _ROWS
    ):
        node = node.func.value
    if not (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr in {"execute", "exec_driver_sql"}
        and node.args
    ):
        return False
    query = unwrap_sql(node.args[0])
    if isinstance(query, ast.Name):
        query = constants.values.get(query.id)
    text = literal(query)
    if isinstance(query, ast.JoinedStr) and _constant(query, constants):
        # An f-string of script constants: its literal parts name the tables.
        text = " x ".join(str(v.value) for v in query.values if isinstance(v, ast.Constant))
    if not isinstance(text, str):
        return False
    tables = [t.replace('"', "") for t in _FROM.findall(text)]
    return bool(tables) and all(_CATALOG.match(t) for t in tables)


def _constant_call(node: ast.Call, constants: Constants, bound: frozenset[str]) -> bool:
    """A call whose result the script fixes: a pure function of constants, ``MAP.get(k)`` of
    a constant mapping, ``", ".join(constants)``, an identifier the dialect quotes, or a
    SQL literal compiled for the dialect (``sa.false().compile(bind)``)."""
    func = node.func
    args = [*node.args, *(kw.value for kw in node.keywords)]
    if (dotted(func) or "") in _PURE_CALLS:
        return not node.keywords and all(_constant(a, constants, bound) for a in node.args)
    if not isinstance(func, ast.Attribute):
        return False
    owner = func.value
    if func.attr == "get" and 1 <= len(node.args) <= 2 and not node.keywords:
        default = node.args[1:]
        return _constant(owner, constants, bound) and all(
            _constant(d, constants, bound) for d in default
        )
    if func.attr == "join" and isinstance(literal(owner), str) and len(node.args) == 1:
        return not node.keywords and _constant(node.args[0], constants, bound)
    if func.attr == "quote" and (dotted(owner) or "").endswith("identifier_preparer"):
        return all(_constant(a, constants, bound) for a in args)
    if func.attr == "compile" and isinstance(owner, ast.Call) and not owner.args:
        return (dotted(owner.func) or "").rsplit(".", 1)[-1] in _SQL_LITERALS
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
        if not is_str_expr(node.left, bindings, line):
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
        and is_str_expr(node.func.value, bindings, line)
    ):
        arguments = [*node.args, *(kw.value for kw in node.keywords)]
        if all(_constant(a, constants) for a in arguments):
            return _formatting(node.func.value, constants, bindings, line, depth + 1)
        return "str.format()"
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        leaves = _add_leaves(node)
        if not any(is_str_expr(leaf, bindings, line) for leaf in leaves):
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
        dotted(node.func) in WRAPPER_FUNCS
        or (isinstance(node.func, ast.Attribute) and node.func.attr in WRAPPER_METHODS)
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
    `TABLE = "users"`, a loop over a literal tuple of table names, a member of an enum or
    class the script defines, `json.dumps()` of a constant, a choice between two literals,
    the entry of a literal mapping chosen by dialect (`TEMPLATES.get(dialect)`,
    `EMPTY[dialect]`), a `", ".join()` over constants or over the members of an enum class
    the script imports, an identifier quoted by the dialect's `identifier_preparer.quote()`,
    `sa.false().compile(bind)`, a row of a constant query that reads only the server's
    catalogs: `pg_*`, `information_schema`, `sqlite_master`) are not reported, since
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
