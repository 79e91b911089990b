"""What literal SQL in ``op.execute`` names, best effort.

``CREATE/DROP TABLE``, ``CREATE/DROP INDEX``, ``ALTER TABLE`` actions and
``INSERT/UPDATE/DELETE`` targets are recognised; anything else is passed over.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence

from flask_safemigrate.lint.sql import (
    IDENT,
    QNAME,
    add_column_action,
    alter_table,
    ident,
    sql_statements,
)
from flask_safemigrate.merge.mentions import (
    Mention,
    column_mentions,
    named_mentions,
    table_mentions,
)

__all__ = ["sql_mentions"]


_SQL_CREATE_TABLE = re.compile(
    rf"^CREATE (?:OR REPLACE )?(?:(?:GLOBAL|LOCAL) )?(?:TEMP |TEMPORARY |UNLOGGED )?TABLE "
    rf"(?:IF NOT EXISTS )?({QNAME})",
    re.IGNORECASE,
)
_SQL_DROP_TABLE = re.compile(
    rf"^DROP TABLE (?:IF EXISTS )?({QNAME}(?:\s*,\s*{QNAME})*)", re.IGNORECASE
)
_SQL_RENAME_TABLE = re.compile(rf"^RENAME TABLE ({QNAME}) TO ({QNAME})", re.IGNORECASE)
_SQL_CREATE_INDEX = re.compile(
    rf"^CREATE (?:UNIQUE )?INDEX (?:CONCURRENTLY )?(?:IF NOT EXISTS )?({QNAME}) ON "
    rf"(?:ONLY )?({QNAME})",
    re.IGNORECASE,
)
_SQL_DROP_INDEX = re.compile(
    rf"^DROP INDEX (?:CONCURRENTLY )?(?:IF EXISTS )?({QNAME})(?: ON ({QNAME}))?", re.IGNORECASE
)
_SQL_DATA = re.compile(
    rf"^(?:UPDATE (?:ONLY )?|INSERT (?:IGNORE )?INTO |DELETE FROM (?:ONLY )?)({QNAME})",
    re.IGNORECASE,
)
_SQL_SPLIT_NAMES = re.compile(rf"({QNAME})")
# ALTER TABLE actions, most specific first.
_ACT_CONSTRAINT = re.compile(
    rf"^(?:ADD CONSTRAINT|DROP CONSTRAINT (?:IF EXISTS )?|DROP FOREIGN KEY|ALTER CONSTRAINT|"
    rf"VALIDATE CONSTRAINT) ({IDENT})",
    re.IGNORECASE,
)
_ACT_RENAME_CONSTRAINT = re.compile(rf"^RENAME CONSTRAINT ({IDENT}) TO ({IDENT})", re.IGNORECASE)
_ACT_INDEX = re.compile(
    rf"^(?:ADD|DROP) (?:UNIQUE |FULLTEXT |SPATIAL )?(?:INDEX|KEY) (?:IF (?:NOT )?EXISTS )?"
    rf"(?!\()({IDENT})",
    re.IGNORECASE,
)
_ACT_RENAME_INDEX = re.compile(rf"^RENAME (?:INDEX|KEY) ({IDENT}) TO ({IDENT})", re.IGNORECASE)
_ACT_RENAME_COLUMN = re.compile(rf"^RENAME (?:COLUMN )?({IDENT}) TO ({IDENT})", re.IGNORECASE)
_ACT_RENAME_TABLE = re.compile(rf"^RENAME (?:TO |AS )?({QNAME})$", re.IGNORECASE)
_ACT_CHANGE = re.compile(rf"^CHANGE (?:COLUMN )?({IDENT}) ({IDENT})", re.IGNORECASE)
_ACT_COLUMN = re.compile(
    rf"^(?:DROP|ALTER|MODIFY) (?:COLUMN )?(?:IF EXISTS )?(?!(?:CONSTRAINT|INDEX|KEY|PRIMARY|"
    rf"FOREIGN|CHECK|DEFAULT|PARTITION|UNIQUE)\b)({IDENT})",
    re.IGNORECASE,
)


def _sql_name(raw: str) -> str | None:
    name = ident(raw)
    return None if "{...}" in name or not name else name


def _alter_actions(table: str, actions: Sequence[str]) -> Iterator[Mention]:
    for action in actions:
        if match := _ACT_RENAME_CONSTRAINT.match(action):
            yield from named_mentions("constraint", _sql_name(match.group(1)), "drop")
            yield from named_mentions("constraint", _sql_name(match.group(2)))
        elif match := _ACT_CONSTRAINT.match(action):
            yield from named_mentions("constraint", _sql_name(match.group(1)), "change")
        elif match := _ACT_RENAME_INDEX.match(action):
            yield from named_mentions("index", _sql_name(match.group(1)), "drop")
            yield from named_mentions("index", _sql_name(match.group(2)))
        elif match := _ACT_INDEX.match(action):
            yield from named_mentions("index", _sql_name(match.group(1)), "change")
        elif (match := _ACT_CHANGE.match(action)) or (match := _ACT_RENAME_COLUMN.match(action)):
            names = [_sql_name(match.group(1)), _sql_name(match.group(2))]
            yield from column_mentions(table, names, "change")
        elif match := _ACT_RENAME_TABLE.match(action):
            yield from table_mentions("drop", table)
            yield from table_mentions("create", _sql_name(match.group(1)))
        elif added := add_column_action(action):
            yield from column_mentions(table, [_sql_name(added[0])], "change")
        elif match := _ACT_COLUMN.match(action):
            yield from column_mentions(table, [_sql_name(match.group(1))], "change")


def sql_mentions(sql: str) -> Iterator[Mention]:
    """What literal SQL names, best effort (see the module docstring)."""
    for statement in sql_statements(sql):
        if match := _SQL_CREATE_TABLE.match(statement):
            yield from table_mentions("create", _sql_name(match.group(1)))
        elif match := _SQL_DROP_TABLE.match(statement):
            for raw in _SQL_SPLIT_NAMES.findall(match.group(1)):
                yield from table_mentions("drop", _sql_name(raw))
        elif match := _SQL_RENAME_TABLE.match(statement):
            yield from table_mentions("drop", _sql_name(match.group(1)))
            yield from table_mentions("create", _sql_name(match.group(2)))
        elif match := _SQL_CREATE_INDEX.match(statement):
            yield from named_mentions("index", _sql_name(match.group(1)))
            yield from table_mentions("use", _sql_name(match.group(2)))
        elif match := _SQL_DROP_INDEX.match(statement):
            yield from named_mentions("index", _sql_name(match.group(1)), "drop")
            if match.group(2):
                yield from table_mentions("use", _sql_name(match.group(2)))
        elif match := _SQL_DATA.match(statement):
            yield from table_mentions("use", _sql_name(match.group(1)))
        elif altered := alter_table(statement):
            table = _sql_name(altered[0])
            if table is not None:
                yield from table_mentions("use", table)
                yield from _alter_actions(table, altered[1])
