"""Judge lint's locking findings by the size of the table they lock, as it is right now.

A rule sees the script, not the database: "this index build blocks writes" is true of every
table, but harmless on one that does not exist yet or holds a few rows, and an outage on one
with millions. Given each pending statement's live size, a size-bound finding on tables that
are all absent (created earlier in the plan) or small becomes ``info`` with the size that made
it harmless; on a large table it keeps its severity and says how large. Where a size is
unknown (not read, the table is missing for no known reason, never analysed) the finding is
left as lint judged it.

A type change (SM105) is a rewrite like the others, with one more risk that size does not
remove: a narrowing's existing values may not fit. Such a finding (``values_at_risk``) is
info only on tables that are absent or empty; on a small table with rows it is a warning
with the row count (check they fit; a value that does not fails the statement, which leaves
nothing behind, so it is not a reason to stop the deploy); on a large one it keeps its
severity.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, Final

from flask_safemigrate.lint.model import VALUES_AT_RISK
from flask_safemigrate.live.sizes import TableKey, TableSize
from flask_safemigrate.live.statements import Statement
from flask_safemigrate.report import Finding, Severity

__all__ = ["EMPTY_BOUND", "SIZE_BOUND", "Sized", "judge"]

#: Locking rules whose harm grows with the table: the lock lasts as long as a build, scan or
#: rewrite of its rows. (SM205 fails at any size; SM210 is about a data migration's paging.)
SIZE_BOUND: Final = frozenset(
    {
        "SM105", "SM201", "SM202", "SM203", "SM204", "SM206", "SM207", "SM208", "SM209",
        "SM215", "SM216", "SM217", "SM218", "SM220", "SM221", "SM222",
    }
)  # fmt: skip
#: ...of which these go wrong at the first row (a NOT NULL column without a default, a
#: unique constraint over existing duplicates): harmless only on an empty table.
EMPTY_BOUND: Final = frozenset({"SM201", "SM221"})


@dataclass(frozen=True)
class Sized:
    """A pending statement with the live size of its table (``None``: not read)."""

    statement: Statement
    size: TableSize | None
    lock: str
    impact: str
    #: The bind it runs on with several databases (``"default"`` or the key); else ``None``.
    bind: str | None = None

    @property
    def key(self) -> TableKey:
        return (self.statement.schema, self.statement.live_table)

    def to_dict(self) -> dict[str, Any]:
        """One row of ``--dry-run``'s ``statements`` (JSON)."""
        size = self.size
        return {
            "revision": self.statement.revision,
            "kind": self.statement.kind,
            "table": self.statement.table,
            "line": self.statement.line,
            "exists": None if size is None else size.exists,
            "created_in_plan": self.statement.created_in_plan,
            "rows": None if size is None else size.rows,
            "rows_estimated": None if size is None else size.estimated or size.at_least,
            "bytes": None if size is None else size.size_bytes,
            "lock": self.lock,
            "impact": self.impact,
            **({"bind": self.bind} if self.bind is not None else {}),
        }


def judge(findings: Sequence[Finding], sized: Sequence[Sized], *, large: int) -> list[Finding]:
    """``findings`` with the size-bound ones on known tables judged by their size."""
    by_line: dict[tuple[str, int], list[Sized]] = {}
    for item in sized:
        by_line.setdefault((item.statement.path, item.statement.line), []).append(item)
    out = []
    for finding in findings:
        matched = by_line.get((finding.path or "", finding.line or 0))
        if (
            not matched
            or finding.code not in SIZE_BOUND
            or finding.severity is Severity.INFO
            or finding.extra.get("direction") == "downgrade"
        ):
            out.append(finding)
            continue
        out.append(_judged(finding, matched, large))
    return out


def _judged(finding: Finding, matched: Sequence[Sized], large: int) -> Finding:
    empty_only = finding.code in EMPTY_BOUND
    verdicts = [_verdict(item, large, empty_only=empty_only) for item in matched]
    tables: dict[str, Any] = {
        item.statement.table: item.to_dict() for item in matched if item.size is not None
    }
    extra: Mapping[str, Any] = {**finding.extra, "tables": list(tables.values())}
    words = "; ".join(words for _, words in verdicts)
    if finding.extra.get(VALUES_AT_RISK) and all(harmless is True for harmless, _ in verdicts):
        emptied = [_verdict(item, large, empty_only=True) for item in matched]
        if not all(harmless is True for harmless, _ in emptied):
            # Small, with rows: the rewrite is brief, but the rows must fit the new type.
            return replace(
                finding,
                severity=min(finding.severity, Severity.WARNING),
                message=f"{finding.message} (the lock is brief here: {words}; check that the"
                " existing values fit the new type)",
                extra={**extra, "harmless": False},
            )
    if all(harmless is True for harmless, _ in verdicts):
        return replace(
            finding,
            severity=Severity.INFO,
            message=f"{finding.message} (harmless here: {words})",
            extra={**extra, "harmless": True},
        )
    if any(harmless is False for harmless, _ in verdicts):
        return replace(finding, message=f"{finding.message} ({words})", extra=extra)
    return finding


def _verdict(item: Sized, large: int, *, empty_only: bool) -> tuple[bool | None, str]:
    """True: harmless at this size; False: the lock bites; None: cannot tell."""
    statement, size = item.statement, item.size
    name = f"`{statement.table}`"
    if statement.created_in_plan:
        return True, f"{name} does not exist yet; pending revision {statement.created_in_plan}"
    if size is None or not size.exists or size.rows is None:
        return None, f"{name}: size unknown"
    described = size.describe()
    if statement.renamed_from:
        described += f", renamed from `{statement.renamed_from}` earlier in the plan"
    if empty_only:
        if size.rows == 0 and not size.at_least:
            return True, f"{name} is empty ({described})"
        return False, f"{name} has {described}"
    if size.rows == 0 and not size.at_least:
        return True, f"{name} is empty ({described})"
    if size.rows < large and not size.at_least:
        return True, f"{name} is small ({described}; SAFEMIGRATE_LARGE_TABLE_ROWS = {large:,})"
    return False, f"on {name}: {described}; large from SAFEMIGRATE_LARGE_TABLE_ROWS = {large:,}"
