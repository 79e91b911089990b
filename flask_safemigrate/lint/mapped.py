"""What the app's current models map, for ``flask db lint`` (which runs with the app).

Read by duck typing from a Flask-SQLAlchemy ``db`` (its ``metadatas`` per bind, or its
``metadata``), so that lint itself imports neither Flask nor SQLAlchemy.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any


def mapped_columns(db: Any) -> Mapping[str, frozenset[str]]:
    """Table name (lower case, no schema) -> the column names the models map."""
    metadatas: Iterable[Any]
    by_bind = getattr(db, "metadatas", None)
    if isinstance(by_bind, Mapping):
        metadatas = by_bind.values()
    else:
        metadata = getattr(db, "metadata", None)
        metadatas = [metadata] if metadata is not None else []
    mapped: dict[str, frozenset[str]] = {}
    for metadata in metadatas:
        for table in getattr(metadata, "tables", {}).values():
            name = str(table.name).lower()
            columns = frozenset(str(column.name).lower() for column in table.columns)
            mapped[name] = mapped.get(name, frozenset()) | columns
    return mapped
