"""SM322 guards-not-imported: the script calls `guards.*` but never imports `guards`."""

from __future__ import annotations

import ast
from collections.abc import Iterator

from flask_safemigrate.lint.calls import nodes_below
from flask_safemigrate.lint.model import Migration, Rule, Violation
from flask_safemigrate.lint.registry import register
from flask_safemigrate.report import Severity

_NAME = "guards"


@register
class GuardsNotImported(Rule):
    """The script calls `guards.*` but never imports `guards`.

    ## What it does
    Flags each call `guards.<helper>(...)` in a script where nothing binds the name
    `guards`: no `from flask_safemigrate import guards` (or `import flask_safemigrate.guards
    as guards`), at module level or in the function, and no assignment, parameter or other
    import of that name.

    ## Why it matters
    Nothing fails until the migration runs: the script parses, `flask db lint` and the
    review see a guarded operation, and then the deploy stops with
    `NameError: name 'guards' is not defined` at the first guard. A script written by
    `flask db revision` before SafeMigrate was installed, or copied from another project,
    has no such import.

    ## Example
    ```python
    import sqlalchemy as sa
    from alembic import op


    def upgrade():
        if guards.table_missing("tags"):
            op.create_table("tags", sa.Column("id", sa.Integer, primary_key=True))
    ```

    ## Use instead
    ```python
    import sqlalchemy as sa
    from alembic import op

    from flask_safemigrate import guards


    def upgrade():
        if guards.table_missing("tags"):
            op.create_table("tags", sa.Column("id", sa.Integer, primary_key=True))
    ```
    """

    code = "SM322"
    name = "guards-not-imported"
    severity = Severity.ERROR
    fix = "add `from flask_safemigrate import guards` to the script's imports"

    def check(self, migration: Migration) -> Iterator[Violation]:
        if _NAME not in migration.source:
            return
        nodes = nodes_below(migration.tree)
        if any(_binds(node) for node in nodes):
            return
        for node in nodes:
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and isinstance(node.func.value, ast.Name)
                and node.func.value.id == _NAME
            ):
                yield Violation(
                    f"calls guards.{node.func.attr}() but the script never imports guards:"
                    " the migration stops with NameError when it runs",
                    node=node,
                )


def _binds(node: ast.AST) -> bool:
    """Whether ``node`` binds the name ``guards`` (an import, assignment, parameter, ...)."""
    if isinstance(node, ast.Import | ast.ImportFrom):
        for alias in node.names:
            bound = alias.asname or (
                alias.name.split(".")[0] if isinstance(node, ast.Import) else alias.name
            )
            if bound == _NAME or alias.name == "*":
                return True
        return False
    if isinstance(node, ast.Name):
        return node.id == _NAME and isinstance(node.ctx, ast.Store)
    if isinstance(node, ast.arg):
        return node.arg == _NAME
    if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
        return node.name == _NAME
    if isinstance(node, ast.Global | ast.Nonlocal):
        return _NAME in node.names
    return False
