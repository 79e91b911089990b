"""SM216 table-rewrite-maintenance: VACUUM FULL, CLUSTER, REINDEX, DETACH PARTITION locking."""

from __future__ import annotations

import re
from collections.abc import Iterator

from flask_safemigrate.lint.helpers.facts import ANY_EXECUTE, POSTGRESQL
from flask_safemigrate.lint.model import Migration, Rule, Violation
from flask_safemigrate.lint.patterns import compiled_later
from flask_safemigrate.lint.registry import register
from flask_safemigrate.lint.sql import execute_sql, sql_statements

# (pattern, what it blocks); the CONCURRENTLY forms never match.
_LOCKING = (
    (compiled_later(r"^VACUUM\s*(?:\((?:[^)]*\bFULL\b)[^)]*\)|FULL\b)", re.I), "reads and writes"),
    (compiled_later(r"^CLUSTER\b", re.I), "reads and writes"),
    (compiled_later(r"^REINDEX\b(?!.*\bCONCURRENTLY\b)", re.I), "writes (and reads that use it)"),
    (
        compiled_later(
            r"^ALTER TABLE\b.*\bDETACH PARTITION\b(?!.*\b(?:CONCURRENTLY|FINALIZE)\b)", re.I
        ),
        "reads and writes",
    ),
)
_VERB = compiled_later(r"^(VACUUM|CLUSTER|REINDEX|ALTER TABLE)\b", re.IGNORECASE)


@register
class TableRewriteMaintenance(Rule):
    """`VACUUM FULL`, `CLUSTER`, and `REINDEX` or `DETACH PARTITION` without `CONCURRENTLY`
    lock a live PostgreSQL table for as long as they run.

    ## What it does
    Flags those statements in literal SQL, in or outside an autocommit block.

    ## Why it matters
    `VACUUM FULL` and `CLUSTER` rewrite the whole table under an ACCESS EXCLUSIVE lock: no
    query reads or writes it until the copy is done. `REINDEX` blocks writes to the table (and
    reads that would use the index) while it rebuilds. `DETACH PARTITION` takes an ACCESS
    EXCLUSIVE lock on the partitioned table. On a table of any size the deploy stalls the
    application.

    ## Example
    ```python
    def upgrade():
        op.execute("REINDEX INDEX ix_orders_created_at")
        op.execute("ALTER TABLE events DETACH PARTITION events_2019")
    ```

    ## Use instead
    The concurrent forms (PostgreSQL 12+ for `REINDEX`, 14+ for `DETACH PARTITION`), in an
    autocommit block; rewrite a bloated table with `pg_repack`, outside the migration:
    ```python
    def upgrade():
        with op.get_context().autocommit_block():
            op.execute("REINDEX INDEX CONCURRENTLY ix_orders_created_at")
            op.execute("ALTER TABLE events DETACH PARTITION events_2019 CONCURRENTLY")
    ```
    """

    code = "SM216"
    name = "table-rewrite-maintenance"
    dialects = POSTGRESQL
    fix = "use the CONCURRENTLY form in an autocommit block, or pg_repack outside the migration"

    requires = (ANY_EXECUTE,)

    def check(self, migration: Migration) -> Iterator[Violation]:
        for call in migration.calls:
            if call.name != "execute":
                continue
            for statement in sql_statements(execute_sql(call) or ""):
                for pattern, blocks in _LOCKING:
                    if pattern.match(statement):
                        verb = _VERB.match(statement)
                        what = "DETACH PARTITION" if "DETACH" in statement.upper() else ""
                        what = what or (verb.group(1).upper() if verb else statement[:20])
                        if what == "VACUUM":
                            what = "VACUUM FULL"
                        yield Violation(
                            f"runs {what}, which blocks {blocks} on the table until it finishes",
                            node=call.node,
                        )
                        break
