"""SM101 drop-table."""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator

from flask_safemigrate.lint.calls import Call
from flask_safemigrate.lint.helpers.facts import UP_EXECUTE
from flask_safemigrate.lint.helpers.labels import table_label
from flask_safemigrate.lint.helpers.leftovers import scratch_table
from flask_safemigrate.lint.helpers.moves import moves
from flask_safemigrate.lint.helpers.timeline import timeline
from flask_safemigrate.lint.index import op_facts
from flask_safemigrate.lint.model import Migration, Rule, Violation
from flask_safemigrate.lint.patterns import compiled_later
from flask_safemigrate.lint.registry import register
from flask_safemigrate.lint.sql import QNAME, ident, split_top_level

_DROP_TABLE = compiled_later(rf"^DROP TABLE (?:IF EXISTS )?({QNAME}(?:\s*,\s*{QNAME})*)", re.I)


@register
class DropTable(Rule):
    """Dropping a table in an upgrade loses its data and breaks code that still uses it.

    ## What it does
    Flags `op.drop_table(...)` and `DROP TABLE` in literal SQL inside `upgrade()`, once per
    statement: a loop over literal names (or a helper called with each) is one finding that
    names every table it drops. Not flagged: a table created earlier in the same
    `upgrade()` (a scratch table); the middle
    of a table rebuild, where the rows were copied out (`INSERT INTO t_new SELECT ... FROM
    t`, or code before the drop that names both tables: `insert(sa.table("t_new", ...))`
    of rows read from `sa.table("t", ...)`) and the copy is renamed to the dropped name
    later in the same function; and
    Alembic's `_alembic_tmp_<table>`, the scratch copy a failed batch operation leaves
    behind, which no code reads; and a drop under an existence check of a table the same
    function makes again later (`if "config_old" in tables: op.drop_table("config_old")`,
    then `op.rename_table("config", "config_old")`): what an interrupted run of this very
    migration left. `downgrade()` is not checked, where dropping what the
    upgrade created is the normal reverse.

    The contract step of expand/contract (a table the code stopped using releases ago)
    stays an error: a linter cannot see earlier releases, and an existence check around the
    drop does not tell it apart (projects guard every op to make migrations re-runnable,
    tables the previous release still uses included). Mark it with a suppression and its
    reason, as below. With `flask db lint` (the app loaded), a drop of a table the current
    models still map is reported as breaking every server, the new release's included.

    ## Why it matters
    The rows are gone for good: the downgrade can recreate the table, not its contents. And
    while the deploy rolls out, servers still running the previous release query the table
    and fail with "relation does not exist".

    ## Example
    ```python
    def upgrade():
        op.drop_table("legacy_orders")
    ```

    ## Use instead
    Drop in two releases: first deploy code that no longer reads or writes the table, then
    drop it in a later migration, after a backup (or keep the data by renaming the table to
    an archive name once nothing uses it).
    ```python
    # release 1: remove the model and every use of it; no migration
    # release 2, once no server runs release 1:
    def upgrade():
        op.drop_table("legacy_orders")  # safemigrate: ignore[drop-table] -- unused since 2.3
    ```
    """

    code = "SM101"
    name = "drop-table"
    fix = (
        "stop using the table in one release, then drop it in a later migration after a backup,"
        " marked `# safemigrate: ignore[drop-table] -- <why it is safe now>`"
    )

    requires = (op_facts("drop_table", receivers=("op",), upgrade=True) | UP_EXECUTE,)

    def check(self, migration: Migration) -> Iterator[Violation]:
        line = timeline(migration)
        # One finding per statement: a loop over literal names reaches one `op.drop_table`
        # once per name, and the reader has one line to change or mark.
        looped: dict[ast.AST, list[Call]] = {}
        for call in migration.upgrade_calls:
            if call.name == "drop_table" and call.receiver == "op":
                if not line.created(call) and not _kept_or_unused(migration, call, call.table):
                    looped.setdefault(call.node, []).append(call)
            elif call.name == "execute":
                for statement, created in line.statements(call):
                    match = _DROP_TABLE.match(statement)
                    if match is None:
                        continue
                    names = [ident(n) for n in split_top_level(match.group(1))]
                    lost = [
                        n
                        for n in names
                        if n not in created and not _kept_or_unused(migration, call, n)
                    ]
                    if lost:
                        yield Violation(
                            f"drops table {', '.join(lost)} in SQL, losing its rows for good"
                            f" and breaking {_who(migration, *lost)}",
                            node=call.node,
                        )
        for node, calls in looped.items():
            yield _drop_violation(migration, node, calls)


def _drop_violation(migration: Migration, node: ast.AST, calls: list[Call]) -> Violation:
    """The finding of one ``op.drop_table`` statement, naming every table it drops (several
    when a loop over literal names runs it)."""
    if len(calls) == 1:
        (call,) = calls
        return Violation(
            f"drops table {table_label(call)}, losing its rows for good and breaking"
            f" {_who(migration, call.table)}",
            node=node,
        )
    names = list(dict.fromkeys(table_label(call) for call in calls))
    return Violation(
        f"drops {len(names)} tables (this statement runs once for each: {', '.join(names)}),"
        f" losing their rows for good and breaking"
        f" {_who(migration, *(call.table for call in calls), them=True)}",
        node=node,
    )


def _kept_or_unused(migration: Migration, call: Call, table: str | None) -> bool:
    """A table rebuild's drop (its rows copied out, the copy takes the name right after),
    Alembic's leftover scratch table, or the leftover of an interrupted run of this very
    migration (dropped where it exists, made again later in the function)."""
    if table is None:
        return False
    found = moves(migration)
    return scratch_table(table) or found.table_rebuilt(call, table) or found.leftover(call, table)


def _who(migration: Migration, *tables: str | None, them: bool = False) -> str:
    """Whom the drop breaks: with the app's models known (``flask db lint``) and still
    mapping the table, every server, the new release included."""
    mapped = migration.config.mapped
    it = "them" if them else "it"
    if mapped is not None and any(t is not None and ident(t) in mapped for t in tables):
        return f"every server: the app's models still map {it}, the new release's included"
    return f"servers that still run code using {it}"
