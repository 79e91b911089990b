"""One walk over a parsed script, shared by every rule: its operation calls and an index.

On a long history the rules, each walking the tree on its own, cost several times the parse.
:func:`build_index` visits each node of the migration functions once (and only the import
statements elsewhere). It collects the operation calls (exactly what
:func:`collect_calls` returns, with the batch blocks, guards and autocommit blocks
around them) and records what rules look things up by: each migration function with every
call expression in it, and :attr:`ScriptIndex.facts`, the names the script uses. A rule
declares the facts it cannot report without (:attr:`engine.Rule.requires`), so the engine
skips it, without a walk, on the many scripts where it cannot match.
"""

from __future__ import annotations

import ast
import contextlib
from collections.abc import Iterator
from typing import Any

from flask_safemigrate.lint import dialects, inline
from flask_safemigrate.lint.calls import (
    ALL_DIALECTS,
    Call,
    asks_database,
    bound_value,
    dotted,
    guard_aliases,
    is_missing,
    keyword,
    literal,
    strings_in,
)
from flask_safemigrate.lint.index_nodes import NodeRecorder
from flask_safemigrate.lint.script_index import (
    EXECUTE,
    FunctionIndex,
    FunctionNode,
    ScriptIndex,
    op_fact,
    op_facts,
)

# The index's types live in script_index.py; rules import them (and op_facts) from here.
__all__ = [
    "EXECUTE",
    "FunctionIndex",
    "ScriptIndex",
    "build_index",
    "collect_calls",
    "op_fact",
    "op_facts",
]

_CONNECTION_NAMES = frozenset({"conn", "connection", "bind", "connectable"})
_OP_FACTS: dict[tuple[str, str, bool], tuple[str, ...]] = {}  # (receiver, name, upgrade)
_OP_HELPERS = frozenset({"f", "get_bind", "get_context", "batch_alter_table"})


class _Builder(NodeRecorder):
    """The walk: the operation calls with what surrounds them, and the index.

    Statements are visited in source order, keeping track of batch blocks, existence checks,
    autocommit blocks and connection variables; each expression is visited breadth first,
    like ``ast.walk``. Fields that the call collection ignores (annotations, ``as`` targets,
    exception types, arguments of nested functions) are still indexed.
    """

    def __init__(self, tree: ast.Module) -> None:
        super().__init__(tree)
        self._aliases: frozenset[str] | None = None
        self.function: FunctionIndex | None = None
        self.connections: set[str] = set()
        self.guard_ifs: set[int] = set()
        self.reach = ALL_DIALECTS  # the dialects that run the statement being visited
        self.helpers: dict[str, FunctionNode] = {}
        self.following: list[str] = []  # the helpers being read through, outermost first
        self.followed: set[tuple[str, str, str, str, int]] = set()  # helper readings done
        self.bindings: dict[str, Any] = {}  # literals that names hold here (see lint/inline)
        self.batch_sources: dict[str, str] = {}  # batch variable -> its table's expression
        # Tables the script defines: variable -> (table name, the metadata it belongs to).
        self.tables: dict[str, tuple[str, str]] | None = None
        self.creations: list[tuple[str, int, str]] = []
        self.dialect_ranges: list[tuple[int, int, frozenset[str]]] = []
        self._module_env: dict[str, ast.expr] | None = None
        self._env: dict[str, ast.expr] | None = None
        self.body: list[ast.stmt] = []

    @property
    def aliases(self) -> frozenset[str]:
        if self._aliases is None:  # only a script with an `if` needs them
            self._aliases = guard_aliases(self.tree)
        return self._aliases

    def _branch(
        self, test: ast.expr, reach: frozenset[str]
    ) -> tuple[frozenset[str], frozenset[str]]:
        """The dialects that enter the body and the ``else`` of ``if test`` (see dialects)."""
        if not dialects.mentions_dialect(test):
            return reach, reach  # names no dialect, nor a name that could hold one
        if self._env is None:
            if self._module_env is None:
                self._module_env = dialects.single_assignments(self.tree.body)
            self._env = {**self._module_env, **dialects.single_assignments(self.body)}
        if_reach, else_reach = dialects.branch_reach(test, reach, self._env)
        if if_reach == reach:
            if_reach = reach  # keep the identity: `is ALL_DIALECTS` means unrestricted
        if else_reach == reach:
            else_reach = reach
        return if_reach, else_reach

    # ------------------------------------------------------------------ statements

    def statements(
        self,
        body: list[ast.stmt],
        batch: dict[str, str | None],
        guards: frozenset[str] | None,
        autocommit: bool,
        ifs: tuple[ast.If, ...],
    ) -> None:
        entry = self.reach
        for stmt in body:
            if self.reach is not ALL_DIALECTS:
                self.dialect_ranges.append(
                    (stmt.lineno, stmt.end_lineno or stmt.lineno, self.reach)
                )
            cls = stmt.__class__
            if cls is ast.Expr:  # the common statements, without the generic field loop
                self.expression(stmt.value, stmt, batch, guards, autocommit, ifs)  # type: ignore[attr-defined]
            elif cls is ast.Assign:
                self._assign(stmt, batch, guards, autocommit, ifs)  # type: ignore[arg-type]
            else:
                self.statement(stmt, batch, guards, autocommit, ifs)
        self.reach = entry

    def _assign(
        self,
        stmt: ast.Assign,
        batch: dict[str, str | None],
        guards: frozenset[str] | None,
        autocommit: bool,
        ifs: tuple[ast.If, ...],
    ) -> None:
        if isinstance(stmt.value, ast.Call):
            source = dotted(stmt.value.func) or ""
            if source.endswith(("get_bind", "connection")):
                for target in stmt.targets:
                    if isinstance(target, ast.Name):
                        self.connections.add(target.id)
        for target in stmt.targets:
            self.expression(target, stmt, batch, guards, autocommit, ifs)
        self.expression(stmt.value, stmt, batch, guards, autocommit, ifs)

    def statement(
        self,
        stmt: ast.stmt,
        batch: dict[str, str | None],
        guards: frozenset[str] | None,
        autocommit: bool,
        ifs: tuple[ast.If, ...],
    ) -> None:
        if isinstance(stmt, ast.With | ast.AsyncWith):
            inner_batch, inner_autocommit = batch, autocommit
            for item in stmt.items:
                expr = item.context_expr
                if item.optional_vars is not None:
                    self.record(item.optional_vars)
                if isinstance(expr, ast.Call):
                    name = dotted(expr.func) or ""
                    if not name and isinstance(expr.func, ast.Attribute):
                        # op.get_context().autocommit_block(): the owner is a call
                        name = expr.func.attr
                    if name.endswith("batch_alter_table"):
                        source = expr.args[0] if expr.args else keyword(expr, "table_name")
                        table = literal(source)
                        if is_missing(table) and source is not None and self.bindings:
                            table = bound_value(source, self.bindings)  # a script constant
                        if isinstance(item.optional_vars, ast.Name):
                            if inner_batch is batch:
                                inner_batch = dict(batch)
                            var = item.optional_vars.id
                            inner_batch[var] = table if isinstance(table, str) else None
                            if not isinstance(table, str) and source is not None:
                                self.batch_sources[var] = ast.unparse(source)
                        self.expression(expr, stmt, batch, guards, autocommit, ifs)
                        continue
                    if name.endswith("autocommit_block"):
                        inner_autocommit = True
                        self.record(expr)
                        continue
                self.expression(expr, stmt, batch, guards, autocommit, ifs)
            self.statements(stmt.body, inner_batch, guards, inner_autocommit, ifs)
            return
        if isinstance(stmt, ast.If):
            start = len(self.call_nodes)
            self.expression(stmt.test, stmt, batch, guards, autocommit, ifs)
            inner = guards
            if asks_database(self.call_nodes[start:], self.aliases):
                inner = (guards or frozenset()) | strings_in(stmt.test)
                self.guard_ifs.add(id(stmt))
            inner_ifs = (*ifs, stmt)
            outer = self.reach
            body_reach, else_reach = self._branch(stmt.test, outer)
            self.reach = body_reach
            self.statements(stmt.body, batch, inner, autocommit, inner_ifs)
            self.reach = else_reach
            self.statements(stmt.orelse, batch, inner, autocommit, inner_ifs)
            self.reach = outer
            if else_reach != outer and not stmt.orelse and dialects.always_leaves(stmt.body):
                # `if bind.dialect.name != "postgresql": return`: the rest is PostgreSQL's
                self.reach = else_reach
            elif body_reach != outer and not stmt.body[1:] and dialects.always_leaves(stmt.orelse):
                self.reach = body_reach
            return
        if isinstance(stmt, ast.Assign):
            self._assign(stmt, batch, guards, autocommit, ifs)
            return
        if isinstance(stmt, ast.For | ast.AsyncFor) and len(self.following) < inline.MAX_DEPTH:
            turns = inline.loop_items(stmt)
            if turns is not None:  # `for name in ("a", "b"):` read once per item
                self.expression(stmt.target, stmt, batch, guards, autocommit, ifs)
                self.expression(stmt.iter, stmt, batch, guards, autocommit, ifs)
                held = self.bindings
                for turn, values in enumerate(turns):
                    self.bindings = {**held, **values}
                    if turn == 0:
                        self.statements(stmt.body, batch, guards, autocommit, ifs)
                    else:
                        with self._shadow():
                            self.statements(stmt.body, batch, guards, autocommit, ifs)
                self.bindings = held
                self.statements(stmt.orelse, batch, guards, autocommit, ifs)
                return
        if isinstance(stmt, ast.Import | ast.ImportFrom):
            self.import_facts(stmt)
        elif isinstance(stmt, ast.Match) or (
            isinstance(stmt, ast.FunctionDef | ast.AsyncFunctionDef) and stmt.returns is not None
        ):
            assert self.function is not None
            self.function.regular = False
        for field_name in stmt._fields:
            value = getattr(stmt, field_name, None)
            if isinstance(value, list):
                if value and isinstance(value[0], ast.stmt):
                    self.statements(value, batch, guards, autocommit, ifs)
                    continue
                for item in value:
                    if isinstance(item, ast.ExceptHandler):
                        if item.type is not None:
                            self.record(item.type)
                        self.statements(item.body, batch, guards, autocommit, ifs)
                    elif isinstance(item, ast.AST):
                        self.expression(item, stmt, batch, guards, autocommit, ifs)
            elif isinstance(value, ast.expr):
                if field_name == "annotation":
                    self.record(value)
                else:
                    self.expression(value, stmt, batch, guards, autocommit, ifs)
            elif isinstance(value, ast.AST):
                self.record(value)

    def expression(
        self,
        node: ast.AST,
        stmt: ast.stmt,
        batch: dict[str, str | None],
        guards: frozenset[str] | None,
        autocommit: bool,
        ifs: tuple[ast.If, ...],
    ) -> None:
        """Index ``node`` and collect the operation calls in it (breadth first)."""
        call_nodes = self.call_nodes
        start = len(call_nodes)
        self.record(node)
        if len(call_nodes) == start:
            return
        function = self.function
        assert function is not None
        followed: list[ast.Call] = []
        for index in range(start, len(call_nodes)):
            sub = call_nodes[index]
            func = sub.func
            if not isinstance(func, ast.Attribute):
                if isinstance(func, ast.Name):
                    if func.id in self.helpers:
                        followed.append(sub)
                    elif func.id == "create_table" and sub.args:
                        self._created(sub.args[0], sub)  # a project's create_table() helper
                continue
            if func.attr == "create_all" or func.attr == "create":
                self._created_by_metadata(func, sub)
            owner = func.value
            attr = func.attr
            owner_name = owner.id if owner.__class__ is ast.Name else dotted(owner)
            if owner_name == "op":
                if attr in _OP_HELPERS:
                    continue
                receiver, batch_table = "op", None
            elif owner_name in batch:
                receiver, batch_table = "batch_op", batch[owner_name]
            elif attr == "execute" and (
                owner_name in self.connections
                or (isinstance(owner, ast.Call) and (dotted(owner.func) or "").endswith("get_bind"))
            ):
                receiver, batch_table = "connection", None
            else:
                continue
            function.calls.append(
                Call.made(  # every field, positionally: thousands of times per history
                    attr,  # name
                    receiver,
                    sub,  # node
                    function.direction,
                    stmt.lineno,  # stmt_line
                    batch_table,
                    guards is not None,  # guarded
                    autocommit,
                    guards or frozenset(),  # guard_names
                    ifs,
                    self.reach,  # dialects
                    self.bindings,
                    self.batch_sources.get(owner_name or "") if batch_table is None else None,
                )
            )
        for sub in followed:
            self._follow(sub, batch, guards, autocommit, ifs)

    def _created(self, node: ast.expr, call: ast.Call) -> None:
        """Note a table made by something other than ``op.create_table`` (see
        :attr:`ScriptIndex.creations`)."""
        value = literal(node)
        if is_missing(value) and self.bindings:
            value = bound_value(node, self.bindings)
        if isinstance(value, str):
            key: str | None = value
        else:
            text = dotted(node)
            key = "{" + text.replace(".", ":") + "}" if text else None
        if key is not None and self.function is not None:
            self.creations.append((self.function.direction, call.lineno, key))

    def _created_by_metadata(self, func: ast.Attribute, call: ast.Call) -> None:
        """``metadata.create_all(bind)`` makes the script's tables of that metadata;
        ``table.create(bind)`` the one table."""
        owner = dotted(func.value) or ""
        if self.tables is None:  # read on the first such call: few scripts make any
            self.tables = inline.table_definitions(self.tree)
        if func.attr == "create_all":
            tables = keyword(call, "tables")
            listed = inline.listed_tables(tables, self.tree) if tables is not None else None
            for variable, (name, metadata) in self.tables.items():
                if metadata == owner and (listed is None or variable in listed):
                    self.creations.append((self._direction(), call.lineno, name))
        else:
            found = self.tables.get(owner)
            if found is not None:
                self.creations.append((self._direction(), call.lineno, found[0]))

    def _direction(self) -> str:
        return self.function.direction if self.function is not None else "upgrade"

    def _follow(
        self,
        call: ast.Call,
        batch: dict[str, str | None],
        guards: frozenset[str] | None,
        autocommit: bool,
        ifs: tuple[ast.If, ...],
    ) -> None:
        """Read a helper of the script where it is called, its literal arguments put in."""
        helper = self.helpers[call.func.id]  # type: ignore[attr-defined]
        if helper.name in self.following or len(self.following) >= inline.MAX_DEPTH:
            return  # recursion, or helpers calling helpers too deep to be worth it
        inner_batch = batch
        for param, name in inline.aliases(helper, call).items():
            if name in batch:  # add_columns(batch_op): the parameter is the batch operations
                inner_batch = {**inner_batch, param: batch[name]}
            elif name in self.connections:
                self.connections.add(param)
        arguments = inline.arguments(helper, call)
        key = (
            helper.name,
            repr(sorted(arguments.items())),
            repr(sorted(inner_batch.items())),
            # where it is read: the same call elsewhere may mean something else
            repr((self._direction(), sorted(guards or ()), autocommit, sorted(self.reach))),
            len(ifs),
        )
        if key in self.followed or len(self.followed) >= inline.MAX_FOLLOWED:
            return  # read already with these arguments (it would say the same), or enough
        self.followed.add(key)
        outer = self.bindings
        self.bindings = {**outer, **arguments}
        self.following.append(helper.name)
        try:
            with self._shadow():
                self.statements(helper.body, inner_batch, guards, autocommit, ifs)
        finally:
            self.following.pop()
            self.bindings = outer

    @contextlib.contextmanager
    def _shadow(self) -> Iterator[None]:
        """Read statements again (a helper's body, a loop's later turns) for their operation
        calls and facts, without listing their call expressions as the function's own."""
        kept, kept_guards, kept_ranges = self.call_nodes, self.guard_ifs, self.dialect_ranges
        self.call_nodes, self.guard_ifs, self.dialect_ranges = [], set(), []
        try:
            yield
        finally:
            self.call_nodes, self.guard_ifs = kept, kept_guards
            self.dialect_ranges = kept_ranges

    # ------------------------------------------------------------------ the module

    def build(self, tree: ast.Module) -> ScriptIndex:
        functions: list[FunctionIndex] = []
        multidb = inline.multidb_shape(tree)
        self.helpers = inline.helpers(tree, multidb)
        constants = inline.module_constants(tree) if _may_have_constants(tree) else {}
        for node in tree.body:
            direction = (
                inline.migration_direction(node.name, multidb)
                if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
                else None
            )
            if direction is None:
                self.module_imports(node)  # the rest of the module: only its imports matter
                continue
            assert isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
            function = FunctionIndex(direction, node)
            functions.append(function)
            self.function = function
            self.call_nodes = function.call_nodes
            self.connections = set(_CONNECTION_NAMES)
            self.body, self._env = node.body, None
            self.reach = dialects.decorated_reach(node.decorator_list)
            self.bindings = constants
            self.statements(node.body, {}, None, False, ())
            self.record(node.args)
            for decorator in node.decorator_list:
                self.record(decorator)
            if node.returns is not None:
                self.record(node.returns)
        self.function = None
        calls = [call for function in functions for call in function.calls]
        facts = self.facts
        for call in calls:
            key = (call.receiver, call.name, call.direction == "upgrade")
            names = _OP_FACTS.get(key)
            if names is None:
                names = _OP_FACTS[key] = (
                    op_fact(call.receiver, call.name),
                    *((op_fact(call.receiver, call.name, upgrade=True),) if key[2] else ()),
                )
            facts.update(names)
        index = ScriptIndex(
            tree=tree,
            calls=calls,
            functions=functions,
            facts=frozenset(facts),
            upgrade_calls=[c for c in calls if c.direction == "upgrade"],
            downgrade_calls=[c for c in calls if c.direction == "downgrade"],
            guard_ifs=self.guard_ifs,
            dialect_ranges=self.dialect_ranges,
            creations=self.creations,
        )
        if self._aliases is not None:
            index.cache["guard_aliases"] = self._aliases
        return index


def _may_have_constants(tree: ast.Module) -> bool:
    """Whether the module has a statement besides imports, functions and Alembic's four
    identifiers (``revision = ...``): only then can it hold constants worth reading."""
    for stmt in tree.body:
        cls = stmt.__class__  # spelled out, no generator: this runs for every script
        if cls is ast.FunctionDef or cls is ast.Import or cls is ast.ImportFrom:
            continue
        if isinstance(stmt, ast.ClassDef):
            return True
        if isinstance(stmt, ast.Assign | ast.AnnAssign):
            targets = stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target]
            for target in targets:
                if not (isinstance(target, ast.Name) and target.id in _ALEMBIC_NAMES):
                    return True
    return False


_ALEMBIC_NAMES = frozenset({"revision", "down_revision", "branch_labels", "depends_on"})


def build_index(tree: ast.Module) -> ScriptIndex:
    """Walk ``tree`` once: its operation calls (in source order) and the index rules read."""
    return _Builder(tree).build(tree)


def collect_calls(tree: ast.Module) -> list[Call]:
    """All operation calls of the module's upgrade and downgrade functions, in source order."""
    return build_index(tree).calls
