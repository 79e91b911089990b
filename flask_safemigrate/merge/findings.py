"""The merge's findings and notes: conflicts, several heads, where the heads diverge."""

from __future__ import annotations

from flask_safemigrate.merge.conflicts import Change, Conflict, branch_labels, closure
from flask_safemigrate.merge.planning import Plan
from flask_safemigrate.report import Finding, Severity
from flask_safemigrate.text import display_path, plural

__all__ = [
    "CONFLICT_CHECK",
    "REFUSE_HINT",
    "conflict_finding",
    "fork_notes",
    "history_note",
    "multiple_heads_finding",
]


CONFLICT_CHECK = "branch-conflict"

REFUSE_HINT = (
    "make the branches agree (change one of the unreleased migrations), or merge anyway with"
    " `flask db auto-merge-heads --force` and add a migration that reconciles them"
)


def history_note(plan: Plan) -> str:
    heads = ", ".join(plan.heads) or "none"
    return (
        f"History: {plural(len(plan.graph.scripts), 'revision')},"
        f" {plural(len(plan.heads), 'head')} ({heads})."
    )


def fork_notes(plan: Plan) -> list[str]:
    graph = plan.graph
    closures = {head: closure(graph, head) for head in plan.heads}
    common = set.intersection(*closures.values())
    parents = {p for rev in common for p in graph.scripts[rev].down_revisions}
    forks = sorted(common - parents)
    where = (
        f"after {', '.join(forks)}" if forks else "with no common ancestor (independent branches)"
    )
    lines = [f"The heads diverge {where}:"]
    for head in plan.heads:
        own = closures[head] - common
        labels = branch_labels(graph, own)
        label = f" [{', '.join(labels)}]" if labels else ""
        lines.append(f"  {head}{label}: {plural(len(own), 'revision')} on its branch")
    return lines


def _describe(change: Change) -> str:
    message = f' "{change.message}"' if change.message else ""
    return (
        f"{change.revision}{message}  {display_path(change.path)}:{change.line}"
        f"  {', '.join(change.operations)}"
    )


def conflict_finding(conflict: Conflict, *, forced: bool) -> Finding:
    """A conflict as a finding (an error, or a warning once ``--force`` merged anyway)."""
    lines = []
    for side in conflict.sides:
        labels = f" [{', '.join(side.labels)}]" if side.labels else ""
        lines.append(f"    branch of head {side.head}{labels}:")
        lines.extend(f"      {_describe(change)}" for change in side.changes)
    return Finding(
        rule=CONFLICT_CHECK,
        severity=Severity.WARNING if forced else Severity.ERROR,
        message=conflict.message,
        details=tuple(lines),
        help=(
            f"add a migration after the merge that reconciles {conflict.object}"
            if forced
            else REFUSE_HINT
        ),
        extra={"kind": conflict.kind, "object": conflict.object, "revisions": conflict.revisions},
    )


def multiple_heads_finding(plan: Plan) -> Finding:
    action = (
        "resolve the conflicts below, then run `flask db auto-merge-heads`"
        if plan.conflicts
        else "run `flask db auto-merge-heads` to write the merge revision"
    )
    return Finding(
        rule="multiple-heads",
        severity=Severity.ERROR,
        message=(
            f"The history has {len(plan.heads)} heads ({', '.join(plan.heads)});"
            " `flask db upgrade` (to `head`) and `flask db migrate` need exactly one."
        ),
        help=action,
        extra={"revisions": list(plan.heads)},
    )
