"""The actions of literal ``ALTER TABLE`` SQL that a column rule looks for.

drop-column, rename-column and alter-column-type each read an ``op.execute`` call's SQL the
same way: every ``ALTER TABLE`` statement on a table the function did not create before it,
split into its actions, each matched against the rule's own pattern.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from flask_safemigrate.lint.calls import Call
from flask_safemigrate.lint.helpers.timeline import Timeline
from flask_safemigrate.lint.sql import alter_table


def alter_actions(
    line: Timeline, call: Call, action: re.Pattern[str]
) -> Iterator[tuple[str, re.Match[str]]]:
    """``(table, match)`` for each action of the call's ``ALTER TABLE`` statements that
    ``action`` matches, in order; a table created earlier in the function is passed over
    (changing a table nobody has used yet breaks nothing)."""
    for statement, created in line.statements(call):
        parsed = alter_table(statement)
        if parsed is None or parsed[0] in created:
            continue
        table, actions = parsed
        for text in actions:
            match = action.match(text)
            if match is not None:
                yield table, match
