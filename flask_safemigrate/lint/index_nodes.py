"""The node-level half of the index walk: the facts and call expressions below a node.

:class:`NodeRecorder` visits expressions breadth first, like ``ast.walk``, adding every
identifier, keyword flag and imported name to the script's facts and every call expression to
the current function's list. :mod:`index` builds on it with what statements say (batch blocks,
guards, dialect branches, helpers followed); this loop is most of a lint run, hence spelled out.
"""

from __future__ import annotations

import ast
from typing import Any

from flask_safemigrate.lint.calls import child_fields, literal, nested_statements

_RECORDED = (ast.Import, ast.ImportFrom, ast.Call, ast.Name, ast.Attribute, ast.keyword)


def _flag(value: ast.expr) -> str | None:
    """``"%s=True"`` (``False``, ``None``) when a keyword's value reads as that literal (as
    :func:`calls.literal` reads it: a constant, or one wrapped in ``op.f(...)``)."""
    if value.__class__ is ast.Constant:
        literal_value = value.value
    elif isinstance(value, ast.Call):
        literal_value = literal(value)
    else:
        return None  # names, containers, arithmetic: never a bare True/False/None
    if literal_value is True:
        return "%s=True"
    if literal_value is False:
        return "%s=False"
    if literal_value is None:
        return "%s=None"
    return None


class NodeRecorder:
    """The facts of a script and the call expressions of the function being walked."""

    def __init__(self, tree: ast.Module) -> None:
        self.tree = tree
        self.facts: set[str] = set()
        self.call_nodes: list[ast.Call] = []

    def record(self, node: ast.AST) -> None:
        """Index every node below ``node`` (inclusive), breadth first like ``ast.walk``."""
        add = self.facts.add
        calls = self.call_nodes
        nodes: list[Any] = [node]
        for sub in nodes:  # the list grows as it is read: a breadth-first walk
            cls = sub.__class__
            # The common node types first, spelled out: this loop is most of a lint run.
            if cls is ast.Name:
                add(sub.id)
            elif cls is ast.Constant:
                pass
            elif cls is ast.Attribute:
                add(sub.attr)
                nodes.append(sub.value)
            elif cls is ast.Call:
                calls.append(sub)
                nodes.append(sub.func)
                nodes += sub.args
                nodes += sub.keywords
            elif cls is ast.keyword:
                arg, value = sub.arg, sub.value
                nodes.append(value)
                if arg:
                    add(arg)
                    if value.__class__ is ast.Constant:  # the usual flag, spelled out
                        constant = value.value
                        if constant is True or constant is False or constant is None:
                            add(f"{arg}={constant}")
                    elif value.__class__ is ast.Call:
                        flag = _flag(value)
                        if flag is not None:
                            add(flag % arg)
            elif cls is ast.arguments and not (
                sub.args or sub.posonlyargs or sub.kwonlyargs or sub.vararg or sub.kwarg
            ):
                nodes += sub.defaults  # none without arguments, but say so for the odd tree
            elif cls is ast.alias:
                pass
            else:
                if isinstance(sub, _RECORDED):  # imports, or a subclass of the above
                    self.other(sub)
                for name in child_fields(cls):
                    value = getattr(sub, name, None)
                    if value.__class__ is list:
                        nodes.extend(v for v in value if isinstance(v, ast.AST))
                    elif isinstance(value, ast.AST):
                        nodes.append(value)

    def other(self, node: ast.AST) -> None:
        if isinstance(node, ast.Import | ast.ImportFrom):
            self.import_facts(node)
        elif isinstance(node, ast.Call):
            self.call_nodes.append(node)
        elif isinstance(node, ast.Name):
            self.facts.add(node.id)
        elif isinstance(node, ast.Attribute):
            self.facts.add(node.attr)
        elif isinstance(node, ast.keyword) and node.arg:
            self.facts.add(node.arg)
            flag = _flag(node.value)
            if flag is not None:
                self.facts.add(flag % node.arg)

    def module_imports(self, stmt: ast.stmt) -> None:
        """Record the imports in a statement outside the migration functions (at any depth;
        they never sit inside an expression)."""
        cls = stmt.__class__
        if cls is ast.Import or cls is ast.ImportFrom:
            self.import_facts(stmt)  # type: ignore[arg-type]
            return
        if cls is ast.Expr or cls is ast.Assign or cls is ast.AnnAssign:
            return  # a docstring, `revision = "..."`: no statement inside, so no import
        for node in nested_statements((stmt,)):
            if isinstance(node, ast.Import | ast.ImportFrom):
                self.import_facts(node)

    def import_facts(self, node: ast.Import | ast.ImportFrom) -> None:
        if isinstance(node, ast.ImportFrom) and node.module:
            self.facts.update(node.module.split("."))
        for alias in node.names:
            self.facts.update(alias.name.split("."))
