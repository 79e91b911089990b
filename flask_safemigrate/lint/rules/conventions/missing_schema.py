"""SM403 missing-schema: An operation does not name the project's schema."""

from __future__ import annotations

import ast
from collections.abc import Iterator

from flask_safemigrate.lint.calls import dotted, keyword, literal
from flask_safemigrate.lint.helpers.arguments import has_kwargs
from flask_safemigrate.lint.helpers.functions import migration_functions
from flask_safemigrate.lint.model import Migration, Rule, Violation
from flask_safemigrate.lint.registry import register
from flask_safemigrate.report import Severity

# Operations that take ``schema=`` (create_foreign_key takes ``source_schema=``).
_SCHEMA_OPS = frozenset(
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
        "create_check_constraint",
        "create_primary_key",
        "create_exclude_constraint",
        "drop_constraint",
        "create_foreign_key",
        "create_table_comment",
        "drop_table_comment",
    }
)


@register
class MissingSchema(Rule):
    """An operation does not name the project's schema.

    ## What it does
    Only when `schema` is configured (`schema = "app"` in `[tool.safemigrate.lint]`):
    reports `op.*` operations that accept `schema=` (`create_table`, `drop_table`,
    `add_column`, `drop_column`, `alter_column`, `create_index`, `drop_index`, the
    constraint operations, `rename_table`; `source_schema=` for `create_foreign_key`) and
    `op.batch_alter_table(...)` blocks called without it or with a different schema. A
    `batch_op` operation takes its schema from its block, so the block is reported.

    ## Why it matters
    Without a schema the table lands in whatever schema is first in the connection's
    `search_path` (PostgreSQL) or in the connection's default database: usually `public`,
    not the application's schema. The migration succeeds, the application does not see
    the table, and the next autogenerate wants to create it again.

    ## Example
    ```python
    op.add_column("users", sa.Column("email", sa.String(120)))
    ```

    ## Use instead
    ```python
    op.add_column("users", sa.Column("email", sa.String(120)), schema="app")
    ```
    """

    code = "SM403"
    name = "missing-schema"
    severity = Severity.WARNING
    fix = "pass schema= (the configured schema) to the operation or its batch_alter_table"

    def check(self, migration: Migration) -> Iterator[Violation]:
        expected = migration.config.schema
        if not expected:
            return
        for call in migration.calls:
            if call.receiver != "op" or call.name not in _SCHEMA_OPS or has_kwargs(call.node):
                continue
            param = "source_schema" if call.name == "create_foreign_key" else "schema"
            problem = self._problem(keyword(call.node, param), expected, param)
            if problem is not None:
                yield Violation(
                    f"op.{call.name}() on {call.table or 'a table'} {problem}", node=call.node
                )
        if "batch_alter_table" not in migration.source:
            return
        for _, function in migration_functions(migration.tree):
            for node in ast.walk(function):
                if (
                    isinstance(node, ast.Call)
                    and dotted(node.func) == "op.batch_alter_table"
                    and not has_kwargs(node)
                ):
                    value = keyword(node, "schema")
                    if value is None and len(node.args) > 1:
                        value = node.args[1]
                    problem = self._problem(value, expected, "schema")
                    if problem is not None:
                        table = literal(node.args[0]) if node.args else None
                        name = table if isinstance(table, str) else "a table"
                        yield Violation(f"op.batch_alter_table() on {name} {problem}", node=node)

    @staticmethod
    def _problem(value: ast.expr | None, expected: str, param: str) -> str | None:
        schema = literal(value)
        if value is None or schema is None:
            return (
                f"has no {param}=, so it acts on the connection's default schema instead of "
                f"{expected!r}"
            )
        if isinstance(schema, str) and schema != expected:
            return f"uses {param}={schema!r}, not the configured schema {expected!r}"
        return None  # the expected schema, or decided at run time
