"""The schema objects one operation names, as :class:`Mention` values the branches compare.

Names compare case-insensitively and without their schema, erring towards a reported
conflict rather than a missed one.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

__all__ = ["Mention", "column_mentions", "named_mentions", "normalize", "table_mentions"]


@dataclass(frozen=True)
class Mention:
    """A schema object named by one operation.

    ``kind`` is ``table``/``column``/``index``/``constraint``; ``role`` is ``create``,
    ``drop`` (or renamed away) or ``change`` when the operation defines the object, ``use``
    when it only refers to it (an index on a column, a foreign key to a table).
    """

    kind: str
    key: tuple[str, ...]
    role: str


def normalize(name: object) -> str | None:
    """Names compare case-insensitively and without schema: erring towards a reported conflict."""
    if not isinstance(name, str) or not name.strip():
        return None
    return name.strip().rsplit(".", 1)[-1].lower()


def table_mentions(kind_role: str, name: object) -> Iterator[Mention]:
    table = normalize(name)
    if table is not None:
        yield Mention("table", (table,), kind_role)


def column_mentions(table: str | None, columns: Iterable[object], role: str) -> Iterator[Mention]:
    if table is None:
        return
    for column in columns:
        name = normalize(column)
        if name is not None:
            yield Mention("column", (table, name), role)


def named_mentions(kind: str, name: object, role: str = "create") -> Iterator[Mention]:
    normalized = normalize(name)
    if normalized is not None:
        yield Mention(kind, (normalized,), role)
