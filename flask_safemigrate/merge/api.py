"""The entry points: :func:`merge_heads` for pipelines, :func:`auto_merge_heads` for the command."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from flask import Flask

from flask_safemigrate import suggested
from flask_safemigrate.errors import ChecksFailed, ExitCode
from flask_safemigrate.merge.conflicts import Conflict
from flask_safemigrate.merge.findings import (
    REFUSE_HINT,
    conflict_finding,
    fork_notes,
    history_note,
    multiple_heads_finding,
)
from flask_safemigrate.merge.planning import plan_merge
from flask_safemigrate.merge.writing import write_merge
from flask_safemigrate.report import Report, Result, Severity
from flask_safemigrate.text import display_path, plural

__all__ = ["COMMAND", "MergeResult", "auto_merge_heads", "merge_heads"]


COMMAND = "auto-merge-heads"


@dataclass(frozen=True)
class MergeResult:
    """What :func:`merge_heads` did: ``merge_revision``/``path`` are None when nothing was
    written (zero or one head)."""

    heads: tuple[str, ...]
    merge_revision: str | None
    path: Path | None
    conflicts: tuple[Conflict, ...]
    notes: tuple[str, ...]

    @property
    def merged(self) -> bool:
        return self.merge_revision is not None


def merge_heads(
    target: Flask | str | os.PathLike[str],
    message: str | None = None,
    force: bool = False,
    *,
    directory: str | os.PathLike[str] | None = None,
    x_args: Sequence[str] = (),
) -> MergeResult:
    """Merge several heads into one; for pipelines such as ``safe-upgrade --auto-merge``.

    Raises :class:`ChecksFailed` (exit 1) when the branches conflict and ``force`` is false;
    its ``data`` holds the heads and conflicts. With an app, call it inside or outside an
    app context: the template is rendered inside one. ``directory`` replaces the app's
    migrations directory (``flask db -d``); ``x_args`` (``-x``) reach ``env.py`` when
    Alembic runs it for a new revision (``revision_environment``).
    """
    plan = plan_merge(target, directory)
    if len(plan.heads) < 2:
        return MergeResult(plan.heads, None, None, (), plan.notes)
    if plan.conflicts and not force:
        raise ChecksFailed(
            f"not merging heads {', '.join(plan.heads)}: "
            f"{plural(len(plan.conflicts), 'conflict')} between the branches "
            f"({'; '.join(c.message for c in plan.conflicts)})",
            hint=REFUSE_HINT,
            data=plan.facts(),
        )
    revision, path = write_merge(target, plan, message, x_args)
    return MergeResult(plan.heads, revision, path, plan.conflicts, plan.notes)


def auto_merge_heads(
    target: Flask | str | os.PathLike[str],
    *,
    message: str | None = None,
    check: bool = False,
    force: bool = False,
    directory: str | os.PathLike[str] | None = None,
    x_args: Sequence[str] = (),
    command: str = suggested.DEFAULT_PREFIX,
) -> Result:
    """``flask db auto-merge-heads``: writes the merge unless refused or ``check``.

    Conflicts are errors (warnings with ``force``); ``check`` adds a ``multiple-heads`` error
    when there are several heads and never writes. The exit code is 1 when the merge was
    refused or ``check`` found several heads, else 0. ``directory`` and ``x_args``: as
    :func:`merge_heads`; ``command`` starts the commands the report suggests
    (``flask db -d DIR``).
    """
    result = _auto_merge_heads(
        target, message=message, check=check, force=force, directory=directory, x_args=x_args
    )
    return Result(suggested.report_for(result.report, command), result.exit_code)


def _auto_merge_heads(
    target: Flask | str | os.PathLike[str],
    *,
    message: str | None,
    check: bool,
    force: bool,
    directory: str | os.PathLike[str] | None,
    x_args: Sequence[str],
) -> Result:
    plan = plan_merge(target, directory)
    notes = [history_note(plan)]
    findings = [conflict_finding(c, forced=force and not check) for c in plan.conflicts]
    heads = ", ".join(plan.heads)
    if len(plan.heads) < 2:
        summary = (
            f"Nothing to merge: one head ({heads})."
            if plan.heads
            else "Nothing to merge: there are no revisions."
        )
        return _result(Report(COMMAND, findings, facts=plan.facts(), notes=notes, closing=summary))
    notes.extend(fork_notes(plan))
    if plan.notes:
        notes.append("Raw SQL is compared best effort; not compared:")
        notes.extend(f"  {note}" for note in plan.notes)
    conflicts = plural(len(plan.conflicts), "conflict")
    if check:
        findings.insert(0, multiple_heads_finding(plan))
        notes.append("--check: nothing was written.")
        summary = f"Not merged (--check): {len(plan.heads)} heads ({heads})" + (
            f", {conflicts} between the branches." if plan.conflicts else "."
        )
        return _result(Report(COMMAND, findings, facts=plan.facts(), notes=notes, closing=summary))
    if plan.conflicts and not force:
        notes.append(f"Not merged: {conflicts} between the branches (below). Nothing was written.")
        summary = (
            f"Refused to merge heads {heads}: {conflicts} between the branches (above);"
            " nothing was written."
        )
        return _result(Report(COMMAND, findings, facts=plan.facts(), notes=notes, closing=summary))
    revision, path = write_merge(target, plan, message, x_args)
    if plan.conflicts:
        notes.append(f"Merging despite {conflicts} (--force).")
    notes.append(f"Wrote merge revision {revision}: {display_path(path)}")
    summary = f"Merged heads {heads} into {revision}" + (
        f" despite {conflicts} (--force): add a migration that reconciles them."
        if plan.conflicts
        else "; the history has one head."
    )
    facts = plan.facts(revision, path)
    return _result(Report(COMMAND, findings, facts=facts, notes=notes, closing=summary))


def _result(report: Report) -> Result:
    """A refusal or several heads under ``--check`` are errors: exit 1."""
    return Result(report, ExitCode.CHECKS_FAILED if report.fails(Severity.ERROR) else ExitCode.OK)
