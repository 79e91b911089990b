"""What each revision's ``upgrade()`` touches: its calls and literal SQL as located mentions."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from flask_safemigrate import history
from flask_safemigrate.lint.index import collect_calls
from flask_safemigrate.lint.sql import execute_sql
from flask_safemigrate.merge.calls import call_mentions
from flask_safemigrate.merge.mentions import Mention
from flask_safemigrate.merge.sql import sql_mentions
from flask_safemigrate.text import display_path

__all__ = ["RevisionTouches", "Touch", "read_revision"]


@dataclass(frozen=True)
class Touch:
    """One mention, located: the revision, operation and line that make it."""

    mention: Mention
    revision: str
    operation: str
    line: int


@dataclass(frozen=True)
class RevisionTouches:
    """What one revision's upgrade() touches, and what could not be read."""

    touches: tuple[Touch, ...]
    unchecked: tuple[str, ...]


def read_revision(script: history.Script) -> RevisionTouches:
    try:
        tree = history.parse_source(script.path.read_bytes(), script.path)
    except (OSError, SyntaxError, ValueError, MemoryError, RecursionError) as exc:
        # The graph read this file a moment ago: it changed or vanished since.
        return RevisionTouches((), (f"{script.revision}: the script cannot be read ({exc})",))
    calls = [call for call in collect_calls(tree) if call.direction == "upgrade"]
    touches: list[Touch] = []
    unchecked: list[str] = []
    for call in calls:
        if call.name == "execute":
            sql = execute_sql(call)
            if sql is None:
                unchecked.append(
                    f"{script.revision} ({display_path(script.path)}:{call.line}) runs SQL that is"
                    " built at run time; it was not compared"
                )
                continue
            mentions: Iterable[Mention] = sql_mentions(sql)
            operation = "execute (SQL)"
        else:
            mentions = call_mentions(call)
            operation = call.name
        touches.extend(
            Touch(mention, script.revision, operation, call.line)
            for mention in dict.fromkeys(mentions)
        )
    return RevisionTouches(tuple(touches), tuple(unchecked))
