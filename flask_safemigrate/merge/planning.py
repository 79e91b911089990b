"""Everything decided before anything is written: the history, its heads and their conflicts."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from flask import Flask

from flask_safemigrate import history
from flask_safemigrate.errors import ConfigError, PreflightError
from flask_safemigrate.merge.conflicts import Conflict, branch_labels, closure, find_conflicts
from flask_safemigrate.project import MISSING_DIRECTORY_HINT
from flask_safemigrate.text import display_path, placed

__all__ = ["Plan", "default_message", "history_problem", "plan_merge"]


@dataclass(frozen=True)
class Plan:
    """Everything decided before anything is written."""

    directory: Path
    locations: tuple[Path, ...]
    graph: history.RevisionGraph
    heads: tuple[str, ...]
    conflicts: tuple[Conflict, ...]
    notes: tuple[str, ...]

    def facts(self, merge_revision: str | None = None, path: Path | None = None) -> dict[str, Any]:
        """This command's JSON keys (docs/architecture.md, "Contracts")."""
        return {
            "heads": list(self.heads),
            "merge_revision": merge_revision,
            "path": display_path(path) if path is not None else None,
            "conflicts": [conflict.to_dict() for conflict in self.conflicts],
        }


def _directory_of(target: Flask | str | os.PathLike[str]) -> Path:
    if isinstance(target, Flask):
        state = target.extensions.get("migrate")
        if state is None:
            raise ConfigError(
                "Flask-Migrate is not registered on this app", hint="call SafeMigrate(app, db)"
            )
        return Path(state.directory)
    return Path(target)


def _empty_facts() -> dict[str, Any]:
    return {"heads": [], "merge_revision": None, "path": None, "conflicts": []}


def history_problem(graph: history.RevisionGraph) -> PreflightError | None:
    problems = [p for p in graph.problems if p.check != "multiple-heads"]
    if not problems:
        return None
    first = problems[0]
    more = f" (and {len(problems) - 1} more; `flask db verify` lists them)" if problems[1:] else ""
    return PreflightError(
        f"the revision history is broken, nothing was merged: {first.message}{more}",
        where=display_path(first.path) if first.path is not None else None,
        hint=first.hint,
        data={
            **_empty_facts(),
            "heads": list(graph.heads),
            "problems": [
                {"check": p.check, "message": p.message, "revisions": list(p.revisions)}
                for p in problems
            ],
        },
    )


def plan_merge(
    target: Flask | str | os.PathLike[str], directory: str | os.PathLike[str] | None = None
) -> Plan:
    """Read the history of an app (or a migrations directory) and find the branch conflicts.

    Raises :class:`ConfigError` without a migrations directory and :class:`PreflightError`
    when the history is broken (a cycle, a missing parent, a duplicate or unreadable script):
    merging would only hide that.
    """
    directory = Path(directory) if directory is not None else _directory_of(target)
    if not directory.is_dir():
        raise ConfigError(
            f"no migrations directory at {placed(directory)}",
            hint=MISSING_DIRECTORY_HINT,
            data=_empty_facts(),
        )
    try:
        locations = history.version_locations(directory)
    except ValueError as exc:
        raise ConfigError(str(exc), hint="fix alembic.ini", data=_empty_facts()) from None
    graph = history.load_graph(locations)
    broken = history_problem(graph)
    if broken is not None:
        raise broken
    conflicts: list[Conflict] = []
    notes: list[str] = []
    if len(graph.heads) > 1:
        conflicts, notes = find_conflicts(graph)
    return Plan(directory, tuple(locations), graph, graph.heads, tuple(conflicts), tuple(notes))


def default_message(graph: history.RevisionGraph, heads: Sequence[str]) -> str:
    """``merge heads 1a2b3c (feature), 4d5e6f``: names each head and its branch labels."""
    named = []
    closures = {head: closure(graph, head) for head in heads}
    common = set.intersection(*closures.values()) if closures else set()
    for head in heads:
        labels = branch_labels(graph, closures[head] - common)
        named.append(f"{head} ({', '.join(labels)})" if labels else head)
    return f"merge heads {', '.join(named)}"
