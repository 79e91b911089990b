"""SM112 entity-change: alembic_utils views, functions and triggers dropped or replaced."""

from __future__ import annotations

import ast
from collections.abc import Iterator

from flask_safemigrate.lint.calls import dotted, keyword, literal
from flask_safemigrate.lint.index import op_facts
from flask_safemigrate.lint.model import Migration, Rule, Violation
from flask_safemigrate.lint.registry import register
from flask_safemigrate.report import Severity


def _entities(tree: ast.Module) -> dict[str, str]:
    """Module-level ``name = PGView(schema=..., signature=...)`` -> ``"PGView public.name"``."""
    found = {}
    for node in tree.body:
        if not (isinstance(node, ast.Assign) and isinstance(node.value, ast.Call)):
            continue
        kind = (dotted(node.value.func) or "").rsplit(".", 1)[-1]
        if not kind.startswith("PG"):
            continue
        schema = literal(keyword(node.value, "schema"))
        signature = literal(keyword(node.value, "signature"))
        where = ".".join(str(p) for p in (schema, signature) if isinstance(p, str))
        for target in node.targets:
            if isinstance(target, ast.Name):
                found[target.id] = f"{kind} {where}".strip()
    return found


@register
class EntityChange(Rule):
    """An `alembic_utils` view, function, trigger or policy is dropped or replaced.

    ## What it does
    Reports `op.drop_entity(...)` and `op.replace_entity(...)` (from `alembic_utils`) inside
    `upgrade()`, naming the entity when the script defines it (`PGView(schema=...,
    signature=...)`). Information only: these operations are otherwise invisible to lint,
    and a reviewer should see them.

    ## Why it matters
    Dropping a view or function breaks every query and every other database object that uses
    it, while the previous release still runs. Replacing one changes what running code gets
    back; PostgreSQL also refuses a `CREATE OR REPLACE VIEW` that drops or renames a column
    ("cannot drop columns from view"), at deploy time.

    ## Example
    ```python
    def upgrade():
        op.drop_entity(public_active_users)
    ```

    ## Use instead
    Add the new view or function under a new name, move the code to it, and drop the old one
    in a later release; replace a view only by adding columns at the end.
    """

    code = "SM112"
    name = "entity-change"
    severity = Severity.INFO
    fix = "add the new definition beside the old one; drop the old one in a later release"

    requires = (op_facts("drop_entity", "replace_entity", receivers=("op",), upgrade=True),)

    def check(self, migration: Migration) -> Iterator[Violation]:
        entities: dict[str, str] | None = None
        for call in migration.upgrade_calls:
            if call.receiver != "op" or call.name not in {"drop_entity", "replace_entity"}:
                continue
            if entities is None:
                entities = _entities(migration.tree)
            argument = call.node.args[0] if call.node.args else None
            name = argument.id if isinstance(argument, ast.Name) else None
            what = entities.get(name or "", name or "an entity")
            if call.name == "drop_entity":
                message = f"drops {what}: queries and objects that use it break"
            else:
                message = f"replaces {what}: running code gets the new definition at once"
            yield Violation(message, node=call.node)
