"""What a revision id or branch label may contain, and why each refusal matters.

Alembic writes revision ids into its version-table SQL as quoted literals
(``literal_column("'%s'" % version)``), so a quote in an id is SQL injection; it refuses
``@ - + :`` only when it loads a script, after a dry run has already said yes; and an id longer
than the version column fails (or, on MariaDB, is cut) after the revision's DDL ran. Every
check that trusts the history therefore asks this module first. Pure functions, no database.
"""

from __future__ import annotations

import re

__all__ = [
    "ID_CHARACTERS",
    "LABEL_CHARACTERS",
    "STOCK_VERSION_WIDTH",
    "id_defect",
    "label_defect",
    "overlong",
]

#: The width of ``alembic_version.version_num`` that Alembic creates (``String(32)``).
STOCK_VERSION_WIDTH = 32

#: Plain words for the messages.
ID_CHARACTERS = "ASCII letters, digits, `_` and `.`"
LABEL_CHARACTERS = "ASCII letters, digits, `_`, `.` and `-`"

_ID = re.compile(r"[A-Za-z0-9_.]+")
_LABEL = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.\-]*")
# Alembic reads `name-2` / `name+2` as "two revisions below/above name".
_RELATIVE = re.compile(r"[+\-]\d")
_ALEMBIC_ILLEGAL = "@-+:"


def _shown(value: str) -> str:
    """The value as a Python literal (control characters escaped), cut to a readable length."""
    text = ascii(value)
    return text if len(text) <= 70 else text[:60] + "...'"


def id_defect(value: str) -> str | None:
    """Why ``value`` cannot be a revision id, or ``None`` when it can."""
    if _ID.fullmatch(value):
        return None
    if not value:
        return "is empty"
    illegal = sorted({c for c in value if c in _ALEMBIC_ILLEGAL})
    if illegal and _ID.fullmatch("".join(c for c in value if c not in _ALEMBIC_ILLEGAL)):
        return (
            f"{_shown(value)} contains {', '.join(repr(c) for c in illegal)}, which Alembic"
            f" refuses in a revision id; use only {ID_CHARACTERS}"
        )
    return (
        f"{_shown(value)} contains characters a revision id may not hold (Alembic writes the"
        f" id into its version-table SQL as a quoted literal); use only {ID_CHARACTERS}"
    )


def label_defect(value: str) -> str | None:
    """Why ``value`` cannot be a branch label (or a ``depends_on`` name), or ``None``."""
    if _LABEL.fullmatch(value) and not _RELATIVE.search(value):
        return None
    if not value:
        return "is empty"
    if _LABEL.fullmatch(value):
        return (
            f"{_shown(value)} contains `+`/`-` before a digit, which Alembic reads as a"
            " relative revision (`name-1`); rename it"
        )
    return f"{_shown(value)} contains characters a branch label may not hold; use only" + (
        f" {LABEL_CHARACTERS}, starting with a letter, digit or `_`"
    )


def overlong(value: str, width: int) -> str | None:
    """Why ``value`` does not fit a version column ``width`` characters wide, or ``None``."""
    if len(value) <= width:
        return None
    return f"{_shown(value)} is {len(value)} characters long; the version column holds {width}"
