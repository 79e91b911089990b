"""A :class:`.Script` as JSON and back, for the caches that keep what a read of a script found
(lint's, :mod:`..lint.cache`, and the history's own, :mod:`.cache`). Positional arrays: a
long history's cache is mostly these."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from flask_safemigrate.history.model import Script

__all__ = ["script_from_json", "script_to_json"]


def script_to_json(script: Script | None) -> list[Any] | None:
    """``script`` as a JSON array (its path left out: whoever reads it back knows it)."""
    if script is None:
        return None
    return [
        script.revision,
        list(script.down_revisions),
        list(script.branch_labels),
        list(script.depends_on),
        script.line,
        script.message,
        script.create_date,
        script.has_upgrade,
        script.upgrade_is_empty,
        script.has_downgrade,
        script.downgrade_is_empty,
        [list(pair) for pair in script.lines],
        None if script.imports is None else [list(pair) for pair in script.imports],
    ]


def script_from_json(data: Sequence[Any] | None, path: Path) -> Script | None:
    """The :class:`Script` at ``path`` that :func:`script_to_json` wrote (``None``: none)."""
    if data is None:
        return None
    (
        revision,
        down_revisions,
        branch_labels,
        depends_on,
        line,
        message,
        create_date,
        has_upgrade,
        upgrade_is_empty,
        has_downgrade,
        downgrade_is_empty,
        lines,
        imports,
    ) = data
    return Script(
        revision=revision,
        down_revisions=tuple(down_revisions),
        branch_labels=tuple(branch_labels),
        depends_on=tuple(depends_on),
        path=path,
        line=line,
        message=message,
        create_date=create_date,
        has_upgrade=has_upgrade,
        upgrade_is_empty=upgrade_is_empty,
        has_downgrade=has_downgrade,
        downgrade_is_empty=downgrade_is_empty,
        lines=tuple((str(name), int(number)) for name, number in lines),
        imports=_pairs(imports),
    )


def _pairs(data: Any) -> tuple[tuple[str, int], ...] | None:
    """``imports`` as the cache kept them; ``None`` (not read: pre-flight parses the script)."""
    if not isinstance(data, list):
        return None
    return tuple((str(name), int(line)) for name, line in data)
