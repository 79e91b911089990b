"""The rule registry: every rule module, and the rules they register.

A rule lives in ``lint/rules/<family>/<rule_name>.py`` (one rule per file) and registers itself
with :func:`register`. Rule modules import this module and :mod:`model`, never the engine or
the package that loads them, so there is no import cycle: the engine imports the registry,
and the registry imports the rule modules by name (:data:`RULE_MODULES`) on first use.

Adding a rule: write its module, then add its dotted name to :data:`RULE_MODULES`
(``tests/test_imports.py`` fails for a rule file missing from the list). Codes by family
(a contract, see docs/architecture.md): 1xx destructive, 2xx locking and zero-downtime, 3xx
correctness, reversibility and idempotency, 4xx conventions, 5xx history graph.
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from typing import TypeVar

from flask_safemigrate.lint.model import Rule

_R = TypeVar("_R", bound=type[Rule])

#: Every module that defines a rule, in code order.
RULE_MODULES: tuple[str, ...] = (
    "flask_safemigrate.lint.rules.destructive.drop_table",
    "flask_safemigrate.lint.rules.destructive.drop_column",
    "flask_safemigrate.lint.rules.destructive.rename_table",
    "flask_safemigrate.lint.rules.destructive.rename_column",
    "flask_safemigrate.lint.rules.destructive.alter_column_type",
    "flask_safemigrate.lint.rules.destructive.unbounded_delete",
    "flask_safemigrate.lint.rules.destructive.drop_schema",
    "flask_safemigrate.lint.rules.destructive.drop_database",
    "flask_safemigrate.lint.rules.destructive.unbounded_update",
    "flask_safemigrate.lint.rules.destructive.rename_enum_value",
    "flask_safemigrate.lint.rules.destructive.drop_foreign_key",
    "flask_safemigrate.lint.rules.destructive.entity_change",
    "flask_safemigrate.lint.rules.destructive.drop_not_null",
    "flask_safemigrate.lint.rules.locking.add_not_null_column_without_default",
    "flask_safemigrate.lint.rules.locking.set_not_null",
    "flask_safemigrate.lint.rules.locking.create_index_not_concurrently",
    "flask_safemigrate.lint.rules.locking.drop_index_not_concurrently",
    "flask_safemigrate.lint.rules.locking.concurrently_outside_autocommit",
    "flask_safemigrate.lint.rules.locking.add_foreign_key_validating",
    "flask_safemigrate.lint.rules.locking.add_unique_constraint",
    "flask_safemigrate.lint.rules.locking.add_check_constraint_validating",
    "flask_safemigrate.lint.rules.locking.volatile_default_on_existing_table",
    "flask_safemigrate.lint.rules.locking.offset_pagination",
    "flask_safemigrate.lint.rules.locking.add_primary_key",
    "flask_safemigrate.lint.rules.locking.table_rewrite_maintenance",
    "flask_safemigrate.lint.rules.locking.validate_in_same_transaction",
    "flask_safemigrate.lint.rules.locking.rewrite_on_add",
    "flask_safemigrate.lint.rules.locking.mysql_add_foreign_key",
    "flask_safemigrate.lint.rules.locking.unique_on_existing_data",
    "flask_safemigrate.lint.rules.locking.backfill_then_set_not_null",
    "flask_safemigrate.lint.rules.correctness.missing_downgrade",
    "flask_safemigrate.lint.rules.correctness.missing_existence_check",
    "flask_safemigrate.lint.rules.correctness.boolean_without_server_default",
    "flask_safemigrate.lint.rules.correctness.index_before_column",
    "flask_safemigrate.lint.rules.correctness.raw_sql_string",
    "flask_safemigrate.lint.rules.correctness.nested_transaction",
    "flask_safemigrate.lint.rules.correctness.formatted_sql",
    "flask_safemigrate.lint.rules.correctness.sqlite_alter_outside_batch",
    "flask_safemigrate.lint.rules.correctness.enum_type_not_dropped",
    "flask_safemigrate.lint.rules.correctness.unnamed_constraint",
    "flask_safemigrate.lint.rules.correctness.app_model_import",
    "flask_safemigrate.lint.rules.correctness.data_and_schema_mixed",
    "flask_safemigrate.lint.rules.correctness.unparseable_script",
    "flask_safemigrate.lint.rules.correctness.non_transactional_statement",
    "flask_safemigrate.lint.rules.correctness.identifier_too_long",
    "flask_safemigrate.lint.rules.correctness.drop_constraint_without_name",
    "flask_safemigrate.lint.rules.correctness.swallowed_ddl_error",
    "flask_safemigrate.lint.rules.correctness.unknown_op_keyword",
    "flask_safemigrate.lint.rules.correctness.removed_sqlalchemy_api",
    "flask_safemigrate.lint.rules.correctness.enum_value_appended",
    "flask_safemigrate.lint.rules.correctness.guards_not_imported",
    "flask_safemigrate.lint.rules.correctness.mysql_alter_without_existing_type",
    "flask_safemigrate.lint.rules.correctness.unknown_operation",
    "flask_safemigrate.lint.rules.conventions.singular_table_name",
    "flask_safemigrate.lint.rules.conventions.vague_message",
    "flask_safemigrate.lint.rules.conventions.missing_schema",
    "flask_safemigrate.lint.rules.conventions.foreign_key_without_index",
    "flask_safemigrate.lint.rules.conventions.file_name_convention",
    "flask_safemigrate.lint.rules.conventions.prefer_bigint_key",
    "flask_safemigrate.lint.rules.conventions.prefer_timestamptz",
    "flask_safemigrate.lint.rules.conventions.prefer_jsonb",
    "flask_safemigrate.lint.rules.history_graph.multiple_heads",
    "flask_safemigrate.lint.rules.history_graph.duplicate_revision",
    "flask_safemigrate.lint.rules.history_graph.missing_parent",
    "flask_safemigrate.lint.rules.history_graph.revision_cycle",
    "flask_safemigrate.lint.rules.history_graph.invalid_revision_id",
)

_REGISTRY: list[type[Rule]] = []
_loaded = False


def register(rule: _R) -> _R:
    """Class decorator adding a rule to the registry; codes and names must be unique."""
    for other in _REGISTRY:
        if other is rule:
            return rule
        if other.code == rule.code or other.name == rule.name:
            raise ValueError(f"{rule.__name__} reuses the code or name of {other.__name__}")
    _REGISTRY.append(rule)
    return rule


def load_rules() -> None:
    """Import every module of :data:`RULE_MODULES` (once); each registers its rule."""
    global _loaded
    if _loaded:
        return
    for module in RULE_MODULES:
        importlib.import_module(module)
    _loaded = True


def all_rules() -> list[type[Rule]]:
    """Every registered rule, ordered by code."""
    load_rules()
    return sorted(_REGISTRY, key=lambda r: r.code)


def rules_of(modules: Sequence[str]) -> list[type[Rule]] | None:
    """The rules of ``modules`` (each one of :data:`RULE_MODULES`), importing only those,
    ordered by code; ``None`` when one is not a rule module (a cache file names them)."""
    if not set(modules) <= set(RULE_MODULES):
        return None
    for module in modules:
        importlib.import_module(module)
    wanted = set(modules)
    return sorted((r for r in _REGISTRY if r.__module__ in wanted), key=lambda r: r.code)


def get_rule(selector: str) -> type[Rule] | None:
    """A rule by name or exact code."""
    load_rules()
    for rule in _REGISTRY:
        if selector in (rule.name, rule.code) or selector.upper() == rule.code:
            return rule
    return None
