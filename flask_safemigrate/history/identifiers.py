"""Revision ids and labels that Alembic refuses or would write into SQL unsafely."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from flask_safemigrate import revision_ids
from flask_safemigrate.history.model import GraphProblem, Script

_ID_HINT = (
    "rename the revision (and every down_revision/depends_on naming it) to plain letters,"
    " digits and `_`, as `flask db revision` generates; nothing was changed in the database"
)


def _invalid_id(script: Script, attribute: str, why: str) -> GraphProblem:
    line = script.line_of(attribute)
    return GraphProblem(
        check="invalid-revision-id",
        message=(f"{script.path}, line {line}: {attribute} {why}."),
        path=script.path,
        line=line,
        revisions=(script.revision,),
        hint=_ID_HINT,
    )


def identifier_problems(script: Script) -> list[GraphProblem]:
    """Ids and labels of ``script`` that Alembic refuses or would write into SQL unsafely.

    Length is checked separately (:func:`overlong_ids`): only the database knows its width.
    """
    problems: list[GraphProblem] = []
    checks: list[tuple[str, tuple[str, ...], Callable[[str], str | None]]] = [
        ("revision", (script.revision,), revision_ids.id_defect),
        ("down_revision", script.down_revisions, revision_ids.id_defect),
        ("branch_labels", script.branch_labels, revision_ids.label_defect),
        # depends_on names a revision id or a branch label: the wider of the two rules
        ("depends_on", script.depends_on, revision_ids.label_defect),
    ]
    for attribute, values, defect in checks:
        for value in values:
            why = defect(value)
            if why is not None:
                problems.append(_invalid_id(script, attribute, why))
    return problems


def overlong_ids(scripts: Iterable[Script], width: int) -> list[GraphProblem]:
    """``revision`` ids longer than a version column ``width`` characters wide.

    Only ``revision`` is checked: every ``down_revision`` is some script's ``revision``.
    """
    return [
        _invalid_id(script, "revision", why)
        for script in scripts
        if (why := revision_ids.overlong(script.revision, width)) is not None
    ]
