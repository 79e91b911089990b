"""The seeded roundtrip: rows a project declares for a revision, checked around its steps.

A project declares rows per revision (``ROWS = {"<revision>": {"<table>": [{...}, ...]}}``,
by default in ``tests/migration_data.py``). In the roundtrip (:mod:`.roundtrip`) the rows of
a revision are inserted just before its upgrade, into the schema its parent left; after the
upgrade each row must still be found (on the columns the table still has), and after the
downgrade each must be found whole. A row that is not is ``seeded-row-lost``, naming the
revision and the step that lost it: the data loss a schema comparison cannot see (a column
dropped and added again, a table copied without its rows, a downgrade that cannot restore
what its upgrade removed).
"""

from __future__ import annotations

import runpy
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Final

import sqlalchemy as sa

from flask_safemigrate import history
from flask_safemigrate.checks import describe
from flask_safemigrate.errors import ConfigError
from flask_safemigrate.report import Finding, Severity
from flask_safemigrate.text import display_path, one_line, placed, shorten
from flask_safemigrate.verify.steps import ScratchRun, StepFailed

__all__ = [
    "SEEDED_ROWS_UNKNOWN_REVISION",
    "SEEDED_ROW_LOST",
    "Rows",
    "SeededRows",
    "check_rows",
    "load_rows",
]

#: The check a lost row fails (the pytest plugin's ``seeded-roundtrip``).
SEEDED_ROW_LOST: Final = "seeded-row-lost"
#: Rows declared for a revision the history does not have: never inserted, so never lost.
SEEDED_ROWS_UNKNOWN_REVISION: Final = "seeded-rows-unknown-revision"

#: revision -> table -> the rows to insert before that revision's upgrade.
Rows = Mapping[str, Mapping[str, Sequence[Mapping[str, Any]]]]


def check_rows(value: object, source: str) -> Rows:
    """``value`` as :data:`Rows`, or a :class:`ConfigError` saying what is wrong in ``source``."""
    shape = '{"<revision>": {"<table>": [{"<column>": value, ...}, ...]}}'
    if not isinstance(value, Mapping):
        raise ConfigError(
            f"{source}: ROWS must be a dict {shape}", hint="see docs/pytest-plugin.md"
        )
    for revision, tables in value.items():
        if not isinstance(revision, str) or not isinstance(tables, Mapping):
            raise ConfigError(
                f"{source}: ROWS[{revision!r}] must map table names to lists of rows ({shape})",
                hint="see docs/pytest-plugin.md",
            )
        for table, rows in tables.items():
            if (
                not isinstance(table, str)
                or isinstance(rows, str | bytes)
                or not isinstance(rows, Sequence)
                or not all(isinstance(row, Mapping) and row for row in rows)
            ):
                raise ConfigError(
                    f"{source}: ROWS[{revision!r}][{table!r}] must be a list of non-empty dicts"
                    " of column values",
                    hint="see docs/pytest-plugin.md",
                )
    return value


def load_rows(path: Path) -> Rows:
    """The ``ROWS`` of the Python file ``path`` (run, not imported as a module)."""
    shown = display_path(path)
    if not path.is_file():  # a usage error (exit 2), as a missing baseline or directory is
        what = "is a directory, not a file" if path.is_dir() else "does not exist"
        raise ConfigError(
            f"rows file {placed(path)} {what}",
            hint='give the path of the Python file that defines ROWS = {"<revision>":'
            ' {"<table>": [{"<column>": value}]}}',
        )
    try:
        namespace = runpy.run_path(str(path))
    except Exception as exc:  # the project's file may raise anything
        raise ConfigError(
            f"{shown} could not be run: {one_line(exc)}", hint="fix the file"
        ) from None
    if "ROWS" not in namespace:
        raise ConfigError(
            f"{shown} defines no ROWS",
            hint='add ROWS = {"<revision>": {"<table>": [{"<column>": value}]}}',
        )
    return check_rows(namespace["ROWS"], shown)


def _condition(table: sa.TableClause, row: Mapping[str, Any]) -> sa.ColumnElement[bool]:
    return sa.and_(
        *(
            table.c[name].is_(None) if value is None else table.c[name] == value
            for name, value in row.items()
        )
    )


class SeededRows:
    """The :class:`~flask_safemigrate.verify.roundtrip.RoundtripHooks` of a seeded roundtrip."""

    def __init__(self, rows: Rows, source: str) -> None:
        self.rows = rows
        #: Where the rows are declared, as messages name it.
        self.source = source

    def unknown_revisions(self, graph: history.RevisionGraph) -> list[Finding]:
        """``seeded-rows-unknown-revision``: rows declared for a revision the history does
        not have (a typo, a short id, a revision since squashed): never inserted."""
        findings = []
        for revision in self.rows:
            if revision in graph.scripts:
                continue
            prefixed = sorted(r for r in graph.scripts if revision and r.startswith(revision))
            if len(prefixed) == 1:
                advice = f"write the full id: {prefixed[0]!r} (ROWS keys are whole revision ids)"
            else:
                advice = "use the full id of a revision in the migrations (`flask db history`)"
            findings.append(
                Finding(
                    rule=SEEDED_ROWS_UNKNOWN_REVISION,
                    severity=Severity.ERROR,
                    message=f"Rows are declared for revision {revision!r} in {self.source},"
                    " which is not in the history: they were never inserted, so nothing was"
                    " checked for them.",
                    help=advice,
                    extra={"revision": revision},
                )
            )
        return findings

    def before_upgrade(self, run: ScratchRun, script: history.Script) -> list[Finding]:
        tables = self.rows.get(script.revision, {})
        for name, rows in tables.items():
            with run.engines[None].connect() as conn:
                exists = sa.inspect(conn).has_table(name)
            if not exists:
                raise StepFailed(self._no_table_yet(run, script, name))
            try:
                with run.engines[None].begin() as conn:
                    for row in rows:
                        table = sa.table(name, *(sa.column(column) for column in row))
                        conn.execute(sa.insert(table).values(dict(row)))
            except sa.exc.SQLAlchemyError as exc:
                raise StepFailed(
                    Finding(
                        rule="roundtrip-failed",
                        severity=Severity.ERROR,
                        message=f"Seeded roundtrip stopped: the rows {self.source} declares for"
                        f" revision {describe(script)} could not be inserted into table"
                        f" {name} before its upgrade: {one_line(exc, run.hidden)}",
                        path=display_path(script.path),
                        line=script.line,
                        help="declare rows that fit the schema just before this revision (its"
                        f" parent's), in {self.source}",
                        extra={"revision": script.revision, "table": name},
                    )
                ) from exc
        return []

    def _no_table_yet(self, run: ScratchRun, script: history.Script, name: str) -> Finding:
        """Rows for a table that does not exist before the revision runs: most often rows
        declared under the revision that creates the table (rows go in before it runs)."""
        graph = run.setup.graph
        after = sorted(
            child.revision
            for child in graph.scripts.values()
            if script.revision in child.down_revisions
        )
        where = (
            f"the next revision ({', '.join(after)})"
            if after
            else "a revision after it (it is a head: add one, or check the rows at head"
            " in a test of your own)"
        )
        return Finding(
            rule="roundtrip-failed",
            severity=Severity.ERROR,
            message=f"Seeded roundtrip stopped: {self.source} declares rows of table {name} for"
            f" revision {describe(script)}, and table {name} does not exist before that"
            " revision runs: a revision's rows are inserted just before its upgrade",
            path=display_path(script.path),
            line=script.line,
            help=f"if revision {script.revision} creates {name}, declare them under {where};"
            " else check the table's name",
            extra={"revision": script.revision, "table": name},
        )

    def after_upgrade(self, run: ScratchRun, script: history.Script) -> list[Finding]:
        return self._lost(run, script, "upgrade")

    def after_downgrade(self, run: ScratchRun, script: history.Script) -> list[Finding]:
        return self._lost(run, script, "downgrade")

    def _lost(self, run: ScratchRun, script: history.Script, step: str) -> list[Finding]:
        findings = []
        with run.engines[None].connect() as conn:
            inspector = sa.inspect(conn)
            for name, rows in self.rows.get(script.revision, {}).items():
                if not inspector.has_table(name):
                    findings.append(self._finding(script, step, name, None, "the table is gone"))
                    continue
                present = {column["name"] for column in inspector.get_columns(name)}
                for row in rows:
                    # After the upgrade only the columns the table still has are compared
                    # (a dropped column is lint's business); after the downgrade, all.
                    kept = {k: v for k, v in row.items() if step == "downgrade" or k in present}
                    missing = [k for k in kept if k not in present]
                    if missing:
                        reason = f"column {', '.join(missing)} is gone"
                        findings.append(self._finding(script, step, name, row, reason))
                        continue
                    table = sa.table(name, *(sa.column(column) for column in kept))
                    query = sa.select(sa.func.count()).select_from(table)
                    if kept:
                        query = query.where(_condition(table, kept))
                    if not conn.execute(query).scalar():
                        findings.append(self._finding(script, step, name, row, None))
        return findings

    def _finding(
        self,
        script: history.Script,
        step: str,
        table: str,
        row: Mapping[str, Any] | None,
        reason: str | None,
    ) -> Finding:
        what = "its rows" if row is None else f"the row {shorten(repr(dict(row)), 200)}"
        why = f" ({reason})" if reason else ""
        advice = (
            "make upgrade() carry existing rows over (copy the data before dropping, retyping"
            " or recreating a column or table)"
            if step == "upgrade"
            else "make downgrade() restore the data its upgrade moved or removed (or make it"
            " raise when it cannot)"
        )
        return Finding(
            rule=SEEDED_ROW_LOST,
            severity=Severity.ERROR,
            message=f"Revision {describe(script)} lost a seeded row in its {step}: {what} of"
            f" table {table}, inserted before the revision ran, is not there after its"
            f" {step}{why}.",
            path=display_path(script.path),
            line=script.line,
            help=f"{advice}; the rows are declared in {self.source}",
            extra={"revision": script.revision, "table": table, "step": step},
        )
