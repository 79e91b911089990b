"""SQL text as the rules read it: literal strings and templates passed to ``op.execute``,
split into statements, with the identifiers and ``ALTER TABLE`` actions in them.

Also used outside lint (``merge.py`` reads the tables a script's SQL touches), so it
imports nothing from the rules.
"""

from __future__ import annotations

import ast
import functools
import re

from flask_safemigrate.lint.calls import (
    Call,
    dotted,
    keyword,
    literal,
)
from flask_safemigrate.lint.patterns import compiled_later

# A placeholder for the parts of an f-string that are not literal: it reads as an identifier.
PLACEHOLDER = "__expr__"
_TEXT_FUNCS = frozenset({"sa.text", "text", "sqlalchemy.text", "sa.sql.text", "sql.text"})
# Calls whose receiver is the SQL: text(...).bindparams(...), "...".format(...).
_TEXT_METHODS = frozenset({"bindparams", "columns", "execution_options", "params", "format"})


def sql_text(node: ast.AST | None) -> str | None:
    """The SQL a node spells, when it is written out in the script; ``None`` otherwise.

    Accepts a string literal, an f-string (its expressions read as :data:`PLACEHOLDER`), a
    ``"..." % args`` or ``"...".format(...)`` template, and any of them wrapped in
    ``sa.text(...)`` with ``.bindparams(...)``-style calls chained on.
    """
    while isinstance(node, ast.Call):
        func = node.func
        if isinstance(func, ast.Attribute) and func.attr in _TEXT_METHODS:
            node = func.value
        elif dotted(func) in _TEXT_FUNCS and node.args:
            node = node.args[0]
        else:
            return None
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Mod):
        node = node.left
    if isinstance(node, ast.JoinedStr):
        parts = []
        for value in node.values:
            if isinstance(value, ast.Constant) and isinstance(value.value, str):
                parts.append(value.value)
            else:
                parts.append(PLACEHOLDER)
        return "".join(parts)
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    return None


def execute_sql(call: Call) -> str | None:
    """The SQL text of an ``op.execute``/``conn.execute`` call, when it is written out."""
    if call.name != "execute":
        return None
    if call.bindings:  # a script constant, a loop variable, a helper's literal argument
        resolved = call.sql
        if resolved is not None:
            return resolved
    return sql_text(call.sql_node)


_SQL_TOKENS = compiled_later(
    r"--[^\n]*|/\*.*?\*/|\$(\w*)\$.*?\$\1\$|'(?:[^']|'')*'|\"(?:[^\"]|\"\")*\"|`[^`]*`",
    re.S,
)


def _blank(match: re.Match[str]) -> str:
    token = match.group(0)
    if token.startswith(("--", "/*")):
        return " "
    if token.startswith("$"):
        return "$$"  # a dollar-quoted body (function, DO block) is opaque
    if token.startswith("'"):
        return "''"  # string contents never count as keywords
    return token  # quoted identifiers stay


@functools.lru_cache(maxsize=1024)
def sql_statements(sql: str) -> tuple[str, ...]:
    """The statements of a SQL text: comments removed, string literals emptied, ``;``-split,
    whitespace collapsed to single spaces. Keywords keep their case; match them with
    ``re.IGNORECASE``."""
    cleaned = _SQL_TOKENS.sub(_blank, sql)
    out = []
    for part in cleaned.split(";"):
        statement = " ".join(part.split())
        if statement:
            out.append(statement)
    return tuple(out)


IDENT = r'(?:"(?:[^"]|"")+"|`[^`]+`|\[[^\]]+\]|[A-Za-z_][\w$]*)'
QNAME = rf"{IDENT}(?:\s*\.\s*{IDENT})*"
_SCHEMA_DOT = compiled_later(rf"\s*\.\s*(?={IDENT}\s*$)")


@functools.lru_cache(maxsize=4096)
def ident(name: str) -> str:
    """A table or column name as rules compare them: unquoted, schema dropped, lower case."""
    last = name.strip()
    if "." in last:  # the split needs a dot: most names have none
        last = _SCHEMA_DOT.split(last)[-1]
    if last[:1] in {'"', "`", "["}:
        last = last[1:-1]
    # An f-string's expression stays visible as such in messages (and matches no table).
    return last.lower().replace(PLACEHOLDER, "{...}")


def split_top_level(text: str) -> list[str]:
    """Split on commas that are not inside parentheses (the actions of an ALTER TABLE)."""
    parts, depth, start = [], 0, 0
    for index, char in enumerate(text):
        if char == "(":
            depth += 1
        elif char == ")":
            depth = max(depth - 1, 0)
        elif char == "," and depth == 0:
            parts.append(text[start:index].strip())
            start = index + 1
    parts.append(text[start:].strip())
    return [p for p in parts if p]


_ALTER_TABLE = compiled_later(
    rf"^ALTER TABLE (?:IF EXISTS )?(?:ONLY )?({QNAME})\s*\*?\s+(.+)$", re.IGNORECASE | re.S
)


@functools.lru_cache(maxsize=1024)
def alter_table(statement: str) -> tuple[str, tuple[str, ...]] | None:
    """``(table, actions)`` for an ``ALTER TABLE`` statement from :func:`sql_statements`."""
    match = _ALTER_TABLE.match(statement)
    if match is None:
        return None
    return ident(match.group(1)), tuple(split_top_level(match.group(2)))


CREATE_TABLE = compiled_later(
    rf"^CREATE (?:OR REPLACE )?(?:(?:GLOBAL|LOCAL) )?(?:TEMP |TEMPORARY |UNLOGGED )?TABLE "
    rf"(?:IF NOT EXISTS )?({QNAME})",
    re.IGNORECASE,
)
_ADD_COLUMN = compiled_later(
    rf"^ADD (?:COLUMN )?(?:IF NOT EXISTS )?(?!(?:CONSTRAINT|INDEX|KEY|PRIMARY|UNIQUE|FOREIGN"
    rf"|CHECK|PARTITION|FULLTEXT|SPATIAL|EXCLUDE|PERIOD)\b)({IDENT})(?:\s+(.*))?$",
    re.IGNORECASE | re.S,
)
VALIDATE = compiled_later(rf"^VALIDATE CONSTRAINT ({IDENT})", re.IGNORECASE)
NOT_NULL_CHECK = compiled_later(
    rf"^ADD (?:CONSTRAINT ({IDENT}) )?CHECK ?\( ?\(? ?({IDENT}) IS NOT NULL ?\)? ?\)",
    re.IGNORECASE,
)
NOT_NULL_CONDITION = compiled_later(rf"^\(? ?({IDENT}) IS NOT NULL ?\)?$", re.IGNORECASE)
NOT_VALID = compiled_later(r"\bNOT VALID\b", re.IGNORECASE)


def add_column_action(action: str) -> tuple[str, str] | None:
    """``(column, definition)`` for an ``ADD [COLUMN]`` action of an ALTER TABLE."""
    match = _ADD_COLUMN.match(action)
    if match is None:
        return None
    return ident(match.group(1)), match.group(2) or ""


COLUMN_WORD = r"(?!(?:CONSTRAINT|INDEX|KEY|PRIMARY|FOREIGN|CHECK|PARTITION|DEFAULT|TO|AS)\b)"


def sql_argument(node: ast.Call) -> ast.expr | None:
    """The statement argument of an ``execute``-like call (positional or keyword)."""
    args = [a for a in node.args if not isinstance(a, ast.Starred)]
    if args:
        return args[0]
    for name in ("sqltext", "statement", "object_"):
        value = keyword(node, name)
        if value is not None:
            return value
    return None


WRAPPER_FUNCS = frozenset(
    {"sa.text", "text", "sqlalchemy.text", "sa.sql.text", "sqlalchemy.sql.text"}
)
WRAPPER_METHODS = frozenset({"bindparams", "columns", "execution_options"})


def unwrap_sql(node: ast.expr | None) -> ast.expr | None:
    """``sa.text("...").bindparams(...)`` -> the ``"..."`` node; other nodes unchanged."""
    while (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr in WRAPPER_METHODS
    ):
        node = node.func.value
    if isinstance(node, ast.Call) and dotted(node.func) in WRAPPER_FUNCS and node.args:
        return node.args[0]
    return node


def literal_sql(node: ast.expr | None) -> str | None:
    value = literal(unwrap_sql(node))
    return value if isinstance(value, str) else None


_SQL_COMMENTS = compiled_later(r"--[^\n]*|/\*.*?\*/", re.S)


def strip_sql_comments(sql: str) -> str:
    return _SQL_COMMENTS.sub(" ", sql)
