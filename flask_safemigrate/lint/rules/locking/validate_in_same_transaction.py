"""SM220 validate-in-same-transaction: VALIDATE in the transaction that added it NOT VALID."""

from __future__ import annotations

import re
from collections.abc import Iterator

from flask_safemigrate.lint.calls import Call
from flask_safemigrate.lint.helpers.alter_ops import NOT_VALID, keyword_is_set
from flask_safemigrate.lint.helpers.arguments import name_value
from flask_safemigrate.lint.helpers.facts import ANY_EXECUTE, POSTGRESQL
from flask_safemigrate.lint.index import op_facts
from flask_safemigrate.lint.model import Migration, Rule, Violation
from flask_safemigrate.lint.patterns import compiled_later
from flask_safemigrate.lint.registry import register
from flask_safemigrate.lint.sql import IDENT, alter_table, execute_sql, ident, sql_statements

_ADD_CONSTRAINT = compiled_later(rf"^ADD CONSTRAINT ({IDENT})\b", re.IGNORECASE)
_VALIDATE = compiled_later(rf"^VALIDATE CONSTRAINT ({IDENT})", re.IGNORECASE)
_NOT_VALID_OPS = frozenset({"create_foreign_key", "create_check_constraint"})


def _not_valid_adds(call: Call) -> set[str]:
    """The constraints ``call`` adds NOT VALID (``postgresql_not_valid=True`` or SQL)."""
    if call.name in _NOT_VALID_OPS and keyword_is_set(call, "postgresql_not_valid"):
        name = name_value(call.param("constraint_name"))
        return {ident(name)} if isinstance(name, str) else set()
    found: set[str] = set()
    if call.name == "execute":
        for statement in sql_statements(execute_sql(call) or ""):
            parsed = alter_table(statement)
            for action in parsed[1] if parsed is not None else ():
                match = _ADD_CONSTRAINT.match(action)
                if match is not None and NOT_VALID.search(action):
                    found.add(ident(match.group(1)))
    return found


def _validations(call: Call) -> list[str]:
    if call.name != "execute":
        return []
    found = []
    for statement in sql_statements(execute_sql(call) or ""):
        parsed = alter_table(statement)
        for action in parsed[1] if parsed is not None else ():
            match = _VALIDATE.match(action)
            if match is not None:
                found.append(ident(match.group(1)))
    return found


@register
class ValidateInSameTransaction(Rule):
    """A constraint added NOT VALID is validated in the same transaction.

    ## What it does
    Flags `ALTER TABLE ... VALIDATE CONSTRAINT <name>` in literal SQL when the same
    transaction added `<name>` with `NOT VALID`: `ADD CONSTRAINT <name> ... NOT VALID` in SQL,
    or `create_foreign_key`/`create_check_constraint` with `postgresql_not_valid=True`, earlier
    in the same function with no `op.get_context().autocommit_block()` in between (Alembic
    runs a migration's function in one transaction on PostgreSQL; an autocommit block commits
    it). A `VALIDATE` inside an autocommit block, or in a later migration, is not flagged.

    ## Why it matters
    `NOT VALID` exists so that the lock `ADD CONSTRAINT` takes (`ACCESS EXCLUSIVE` for a
    check, `SHARE ROW EXCLUSIVE` on both tables for a foreign key) is held only for a moment,
    and the scan that proves the old rows happens later under `SHARE UPDATE EXCLUSIVE`, which
    lets reads and writes go on. A lock is held until its transaction ends: validating in the
    same transaction keeps the `ADD`'s lock through the whole scan, which is exactly the outage
    `NOT VALID` was meant to avoid (and a `SET NOT NULL` after it adds its own
    `ACCESS EXCLUSIVE` on top).

    ## Example
    ```python
    def upgrade():
        op.execute(
            "ALTER TABLE users ADD CONSTRAINT ck_users_email_not_null"
            " CHECK (email IS NOT NULL) NOT VALID"
        )
        op.execute("ALTER TABLE users VALIDATE CONSTRAINT ck_users_email_not_null")
    ```

    ## Use instead
    Commit the `ADD` first: validate in an autocommit block (or in the next migration):
    ```python
    def upgrade():
        op.execute(
            "ALTER TABLE users ADD CONSTRAINT ck_users_email_not_null"
            " CHECK (email IS NOT NULL) NOT VALID"
        )
        with op.get_context().autocommit_block():
            op.execute("ALTER TABLE users VALIDATE CONSTRAINT ck_users_email_not_null")
    ```
    """

    code = "SM220"
    name = "validate-in-same-transaction"
    dialects = POSTGRESQL
    fix = (
        "run VALIDATE CONSTRAINT in `with op.get_context().autocommit_block():` or a later"
        " migration"
    )

    requires = (ANY_EXECUTE, ANY_EXECUTE | op_facts(*_NOT_VALID_OPS))

    def check(self, migration: Migration) -> Iterator[Violation]:
        for calls in (migration.upgrade_calls, migration.downgrade_calls):
            pending: set[str] = set()  # added NOT VALID in the transaction still open
            for call in calls:
                if call.autocommit:
                    pending.clear()  # the block committed everything before it
                    continue
                for name in _validations(call):
                    if name in pending:
                        yield Violation(
                            f"validates constraint {name} in the transaction that added it"
                            " NOT VALID, which keeps the ADD's lock on the table through the"
                            " whole validating scan",
                            node=call.node,
                        )
                pending |= _not_valid_adds(call)
