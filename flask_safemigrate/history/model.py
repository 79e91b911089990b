"""What reading the history yields: a script, a problem, and the two lookup errors.

Plain data shared by every part of :mod:`flask_safemigrate.history`; no reading here.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True, init=False)
class Script:
    """One revision script as written on disk (nothing in it was executed).

    Its ``__init__`` fills the instance's dictionary at once (lint reads one per script of a
    history): the frozen dataclass's own sets each field through ``object.__setattr__``.
    """

    revision: str
    down_revisions: tuple[str, ...]
    branch_labels: tuple[str, ...]
    depends_on: tuple[str, ...]
    path: Path
    line: int
    message: str | None
    create_date: str | None
    has_upgrade: bool
    upgrade_is_empty: bool
    has_downgrade: bool
    downgrade_is_empty: bool
    #: ``(attribute, line)`` of each identifier assignment read (``down_revision``, ...), and
    #: ``("def upgrade", line)`` / ``("def downgrade", line)`` for the functions.
    lines: tuple[tuple[str, int], ...] = ()
    #: ``(module, line)`` of each absolute ``import`` directly in the module body, read with
    #: the rest (safe-upgrade's pre-flight looks each up: :mod:`.upgrade.script_imports`);
    #: ``None`` where whoever made this script did not read them (then they are parsed).
    imports: tuple[tuple[str, int], ...] | None = None

    def __init__(
        self,
        revision: str,
        down_revisions: tuple[str, ...],
        branch_labels: tuple[str, ...],
        depends_on: tuple[str, ...],
        path: Path,
        line: int,
        message: str | None,
        create_date: str | None,
        has_upgrade: bool,
        upgrade_is_empty: bool,
        has_downgrade: bool,
        downgrade_is_empty: bool,
        lines: tuple[tuple[str, int], ...] = (),
        imports: tuple[tuple[str, int], ...] | None = None,
    ) -> None:
        object.__setattr__(self, "__dict__", {"revision": revision,
            "down_revisions": down_revisions, "branch_labels": branch_labels,
            "depends_on": depends_on, "path": path, "line": line, "message": message,
            "create_date": create_date, "has_upgrade": has_upgrade,
            "upgrade_is_empty": upgrade_is_empty, "has_downgrade": has_downgrade,
            "downgrade_is_empty": downgrade_is_empty, "lines": lines,
            "imports": imports})  # fmt: skip

    @property
    def is_merge(self) -> bool:
        return len(self.down_revisions) > 1

    def line_of(self, attribute: str) -> int:
        """The line assigning ``attribute`` (``revision``'s line when unknown)."""
        return next((line for name, line in self.lines if name == attribute), self.line)


@dataclass(frozen=True)
class GraphProblem:
    """A defect of the history that Alembic would trip over; ``check`` is the verify check name."""

    check: str
    message: str
    path: Path | None = None
    line: int | None = None
    revisions: tuple[str, ...] = ()
    hint: str | None = None


class RevisionLookupError(ValueError):
    """A revision reference that names no revision, or more than one where one is needed."""

    def __init__(self, message: str, ref: str, candidates: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.ref = ref
        self.candidates = candidates


class RevisionCycleError(ValueError):
    """Raised by :meth:`RevisionGraph.path` when the revisions to order contain a cycle."""

    def __init__(self, message: str, revisions: tuple[str, ...]) -> None:
        super().__init__(message)
        self.revisions = revisions


def unparseable(path: Path, line: int | None, what: str, hint: str) -> GraphProblem:
    """The ``unparseable-script`` problem for a file Alembic could not load either."""
    where = f"{path}, line {line}" if line is not None else str(path)
    return GraphProblem(
        check="unparseable-script",
        message=f"Migration script {where} cannot be read: {what}.",
        path=path,
        line=line,
        hint=hint,
    )
